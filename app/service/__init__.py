"""The shell that wires it: routing, the responder, catch-up, reminders and notifiers."""
