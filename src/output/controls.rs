//! What a service's control characters may do to the user's terminal.
//!
//! A service's output is text for the user to read, not commands for their terminal: an OSC 52
//! sequence writes the clipboard, another sets the window title, and `\r` with `ESC [ K` erases
//! the `name |` prefix so that a line passes for another service's or for wrangle's own. On a
//! terminal, [`render_visible`] shows every control character in caret notation (`ESC` as `^[`,
//! `\r` as `^M`) and, only when asked, keeps the colour sequences (SGR: `ESC [ … m`), which can
//! do nothing but colour. Files and pipes get the bytes as written, and so does a terminal with
//! `--raw`.
//!
//! See: ECMA-48 (control functions, SGR), <https://invisible-island.net/xterm/ctlseqs/ctlseqs.html>.

use std::borrow::Cow;

/// How service output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controls {
    /// As written: escape sequences and all (files, pipes, `--raw`).
    Raw,
    /// Control characters shown visibly; colour sequences kept when `keep_colors`.
    Visible { keep_colors: bool },
}

impl Controls {
    /// `text` as this mode writes it.
    pub fn apply(self, text: &str) -> Cow<'_, str> {
        match self {
            Controls::Raw => Cow::Borrowed(text),
            Controls::Visible { keep_colors } => render_visible(text, keep_colors),
        }
    }
}

/// `text` with every control character made visible, except tabs and (with `keep_colors`)
/// well-formed SGR sequences: C0 controls in caret notation (`^[`, `^M`, `^G`), DEL as `^?`, C1
/// controls as their 7-bit form (`U+009B` as `^[[`), and the bidirectional overrides and isolates
/// that reorder what a line appears to say as `<U+202E>`.
pub fn render_visible(text: &str, keep_colors: bool) -> Cow<'_, str> {
    if !text.chars().any(needs_rendering) {
        return Cow::Borrowed(text);
    }
    let mut rendered = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(ch) = rest.chars().next() {
        if ch == '\x1b'
            && keep_colors
            && let Some(length) = sgr_length(rest)
        {
            rendered.push_str(&rest[..length]);
            rest = &rest[length..];
            continue;
        }
        match ch {
            '\t' => rendered.push(ch),
            '\u{0}'..='\u{1f}' => {
                rendered.push('^');
                rendered.push(char::from(ch as u8 + 0x40));
            }
            '\u{7f}' => rendered.push_str("^?"),
            '\u{80}'..='\u{9f}' => {
                rendered.push_str("^[");
                rendered.push(char::from(ch as u8 - 0x40));
            }
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                rendered.push_str(&format!("<U+{:04X}>", u32::from(ch)));
            }
            _ => rendered.push(ch),
        }
        rest = &rest[ch.len_utf8()..];
    }
    Cow::Owned(rendered)
}

fn needs_rendering(ch: char) -> bool {
    (ch.is_control() && ch != '\t')
        || matches!(ch, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The length of the SGR sequence `text` starts with (`ESC [`, parameters of digits, `;` and
/// `:`, then `m`), if it does.
fn sgr_length(text: &str) -> Option<usize> {
    let parameters = text.strip_prefix("\x1b[")?;
    let end = parameters.find(|ch: char| !(ch.is_ascii_digit() || ch == ';' || ch == ':'))?;
    (parameters[end..].starts_with('m')).then_some(2 + end + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_and_tabs_are_untouched_and_not_copied() {
        let text = "GET /health 200\t3 ms — ünïcödé";
        assert!(matches!(render_visible(text, false), Cow::Borrowed(_)));
        assert!(matches!(render_visible(text, true), Cow::Borrowed(_)));
    }

    #[test]
    fn the_attacks_of_the_report_are_shown_not_performed() {
        // OSC 52 (clipboard), a title change, and erasing the prefix to pose as wrangle.
        assert_eq!(
            render_visible("\x1b]52;c;ZWNobyBwd25lZA==\x07", false),
            "^[]52;c;ZWNobyBwd25lZA==^G"
        );
        assert_eq!(render_visible("\x1b]0;owned\x1b\\", true), "^[]0;owned^[\\");
        assert_eq!(
            render_visible("\r\x1b[Kwrangle  * all ready", true),
            "^M^[[Kwrangle  * all ready"
        );
    }

    #[test]
    fn colours_are_kept_only_when_asked_and_only_when_well_formed() {
        let red = "\x1b[1;31merror\x1b[0m done \x1b[38:5:208mx\x1b[m";
        assert_eq!(render_visible(red, true), red);
        assert_eq!(
            render_visible(red, false),
            "^[[1;31merror^[[0m done ^[[38:5:208mx^[[m"
        );
        // Not SGR: cursor movement, a private mode, an unterminated sequence.
        assert_eq!(
            render_visible("\x1b[2J\x1b[?25l\x1b[31", true),
            "^[[2J^[[?25l^[[31"
        );
    }

    #[test]
    fn other_controls_del_c1_and_bidi_overrides_are_visible() {
        assert_eq!(render_visible("a\x00b\x08c\x7f", false), "a^@b^Hc^?");
        assert_eq!(render_visible("\u{9b}31m", true), "^[[31m");
        assert_eq!(
            render_visible("user\u{202e}gnp.exe", false),
            "user<U+202E>gnp.exe"
        );
    }

    #[test]
    fn raw_passes_everything() {
        let text = "\x1b]52;c;eA==\x07\r";
        assert_eq!(Controls::Raw.apply(text), text);
        assert_eq!(
            Controls::Visible { keep_colors: false }.apply(text),
            "^[]52;c;eA==^G^M"
        );
    }
}
