//! Keys of `wrangle top`: a crossterm key event becomes an [`app::Command`](crate::top::app::Command),
//! or nothing. The one place that knows which key does what; the footer's help text is here too,
//! so the two cannot drift apart.
//!
//! Only plain keys are used (no mouse, no function keys, no key releases): they work the same
//! over SSH and in every terminal.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::top::app::{Command, Mode};

/// What the footer says, per screen.
pub fn help(mode: Mode) -> &'static str {
    match mode {
        Mode::Table => "↑↓/jk select  r restart  s stop  a/S start  l/Enter logs  q quit",
        Mode::Logs => {
            "↑↓/jk PgUp/PgDn scroll  End follow  r restart  s stop  a/S start  Esc back  q quit"
        }
    }
}

/// The command of a key, if it has one.
pub fn command(key: KeyEvent) -> Option<Command> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let control = key.modifiers.contains(KeyModifiers::CONTROL);
    // Raw mode turns Ctrl+C into a key (no SIGINT): it quits like `q`.
    if control {
        return match key.code {
            KeyCode::Char('c') | KeyCode::Char('C') => Some(Command::Quit),
            _ => None,
        };
    }
    match key.code {
        KeyCode::Up | KeyCode::Char('k') => Some(Command::Up),
        KeyCode::Down | KeyCode::Char('j') => Some(Command::Down),
        KeyCode::PageUp => Some(Command::PageUp),
        KeyCode::PageDown => Some(Command::PageDown),
        KeyCode::Home | KeyCode::Char('g') => Some(Command::First),
        KeyCode::End | KeyCode::Char('G') => Some(Command::Last),
        KeyCode::Char('r') => Some(Command::Restart),
        KeyCode::Char('s') => Some(Command::Stop),
        KeyCode::Char('S') | KeyCode::Char('a') => Some(Command::Start),
        KeyCode::Char('l') | KeyCode::Enter => Some(Command::OpenLogs),
        KeyCode::Esc => Some(Command::Back),
        KeyCode::Char('q') | KeyCode::Char('Q') => Some(Command::Quit),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn keys_map_to_commands() {
        let cases = [
            (KeyCode::Up, Some(Command::Up)),
            (KeyCode::Char('k'), Some(Command::Up)),
            (KeyCode::Down, Some(Command::Down)),
            (KeyCode::Char('j'), Some(Command::Down)),
            (KeyCode::Char('r'), Some(Command::Restart)),
            (KeyCode::Char('s'), Some(Command::Stop)),
            (KeyCode::Char('S'), Some(Command::Start)),
            (KeyCode::Char('a'), Some(Command::Start)),
            (KeyCode::Char('l'), Some(Command::OpenLogs)),
            (KeyCode::Enter, Some(Command::OpenLogs)),
            (KeyCode::Esc, Some(Command::Back)),
            (KeyCode::Char('q'), Some(Command::Quit)),
            (KeyCode::End, Some(Command::Last)),
            (KeyCode::Char('x'), None),
            (KeyCode::F(1), None),
        ];
        for (code, expected) in cases {
            assert_eq!(command(key(code)), expected, "{code:?}");
        }
    }

    #[test]
    fn ctrl_c_quits_and_other_control_keys_do_nothing() {
        let ctrl = |ch| KeyEvent::new(KeyCode::Char(ch), KeyModifiers::CONTROL);
        assert_eq!(command(ctrl('c')), Some(Command::Quit));
        assert_eq!(command(ctrl('r')), None, "Ctrl+R is not a restart");
        assert_eq!(command(ctrl('s')), None);
    }

    #[test]
    fn releases_are_ignored() {
        let mut release = key(KeyCode::Char('r'));
        release.kind = KeyEventKind::Release;
        assert_eq!(command(release), None);
    }
}
