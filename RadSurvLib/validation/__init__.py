"""Validation against published references: IBSI 1 compliance tables (``validation.ibsi``)."""
