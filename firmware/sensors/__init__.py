"""Accelerometer drivers share one interface:

name: str; lsb_g: float; RATES: tuple of supported output rates (Hz)
full_scale: int, the largest sample magnitude (counts) the sensor reports before clipping
configure(rate_hz) -> None
read_window(bx, by, bz, n) -> bool   fill three array('h') with n samples, False on fault
temperature() -> float | None
"""
