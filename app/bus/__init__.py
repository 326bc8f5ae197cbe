"""The bus gives every public event its id and time, and delivers it to every subscriber in order."""
