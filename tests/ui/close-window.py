#!/usr/bin/python3
"""Ask an X window to close, exactly as a window manager's close button does: send it
WM_PROTOCOLS / WM_DELETE_WINDOW. (Xvfb has no window manager to do it.)

usage: close-window.py WINDOW_ID
"""
import sys

from Xlib import X, display
from Xlib.protocol import event

d = display.Display()
win = d.create_resource_object("window", int(sys.argv[1]))
protocols = d.intern_atom("WM_PROTOCOLS")
delete = d.intern_atom("WM_DELETE_WINDOW")
ev = event.ClientMessage(window=win, client_type=protocols, data=(32, [delete, X.CurrentTime, 0, 0, 0]))
win.send_event(ev, event_mask=X.NoEventMask)
d.flush()
d.close()
