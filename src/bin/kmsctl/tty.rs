//! The one piece of terminal control: reading a secret without echo (termios through libc).

use std::io::{BufRead, Write};

use crate::util::R;

/// Restores the terminal's settings when dropped.
struct EchoOff {
    fd: libc::c_int,
    saved: libc::termios,
}

impl EchoOff {
    fn new(fd: libc::c_int) -> Option<EchoOff> {
        // SAFETY: termios is plain old data; zeroed is a valid value to be filled in.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd is stdin's descriptor; t is a valid, writable termios.
        if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
            return None;
        }
        let saved = t;
        t.c_lflag &= !libc::ECHO;
        t.c_lflag |= libc::ECHONL;
        // SAFETY: fd is valid; t is an initialised termios read from the same terminal.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) } != 0 {
            return None;
        }
        Some(EchoOff { fd, saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the settings read from this descriptor in `new`.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved);
        }
    }
}

/// Prompts on stderr and reads one line from the terminal on stdin without echo.
pub fn prompt_hidden(prompt: &str) -> R<String> {
    let mut e = std::io::stderr();
    write!(e, "{prompt}")?;
    e.flush()?;
    let guard = EchoOff::new(0);
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    drop(guard);
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
