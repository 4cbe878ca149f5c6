"""Diagnostics of injected stamps: can anything but the arc tell an injection from a control?"""
