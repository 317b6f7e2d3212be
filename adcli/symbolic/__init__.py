"""Derivatives as formulas: recorded derivative programs turned into short, readable expressions."""
