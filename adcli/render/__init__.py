"""Renderers: typed results -> text, json, csv and plain output."""
