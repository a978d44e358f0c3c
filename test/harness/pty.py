# Runs a command on a pseudo-terminal of 33 rows by 101 columns (node cannot allocate one),
# copies what it writes to stdout, and when that output first holds the text of argv[1],
# resizes the terminal to 40 by 120 (the kernel then sends SIGWINCH to the command).
# Exits with the command's exit code. Usage: pty.py TRIGGER CMD [ARG]...
import fcntl, os, struct, subprocess, sys, termios

def winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))

def main():
    trigger = sys.argv[1].encode()
    master, slave = os.openpty()
    winsize(slave, 33, 101)
    def own_terminal():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    child = subprocess.Popen(sys.argv[2:], stdin=slave, stdout=slave, stderr=slave, preexec_fn=own_terminal, close_fds=True)
    os.close(slave)
    seen = b''
    resized = False
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break  # EIO: every holder of the terminal has closed it
        if not data:
            break
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        seen += data
        if not resized and trigger in seen:
            resized = True
            winsize(master, 40, 120)
    sys.exit(child.wait())

main()
