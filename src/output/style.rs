//! The palette of the foreground printer: which ANSI style each part of a line gets.
//!
//! This owns colour choices only, as `anstyle` values; whether colour is used at all is the
//! printer's decision. Red is kept for errors alone, so no service is ever drawn in red and a red
//! word always means something went wrong.

use anstyle::{AnsiColor, Color, Style};

use crate::output::Tone;
use crate::spec::ServiceId;

/// Service name colours, in the order services are declared. Distinct from each other and from
/// red; the plain colours come first because the bright ones are harder to read on light
/// terminals, and blue comes late because it is hard to read on dark ones.
const SERVICE_PALETTE: &[AnsiColor] = &[
    AnsiColor::Cyan,
    AnsiColor::Green,
    AnsiColor::Magenta,
    AnsiColor::Yellow,
    AnsiColor::Blue,
    AnsiColor::BrightCyan,
    AnsiColor::BrightGreen,
    AnsiColor::BrightMagenta,
    AnsiColor::BrightYellow,
    AnsiColor::BrightBlue,
];

/// The name column of a service: its own colour, cycling through the palette.
pub(crate) fn service_name(service: ServiceId) -> Style {
    let color = SERVICE_PALETTE[service % SERVICE_PALETTE.len()];
    Style::new().fg_color(Some(Color::Ansi(color)))
}

/// The name column of wrangle's own messages.
pub(crate) fn wrangle_name() -> Style {
    Style::new().bold()
}

/// The `|` between a name and a line of stdout: present but quiet.
pub(crate) fn stdout_marker() -> Style {
    Style::new().dimmed()
}

/// The `!` before a line of stderr: noticeable, but not red, since most stderr is logging.
pub(crate) fn stderr_marker() -> Style {
    Style::new().fg_color(Some(Color::Ansi(AnsiColor::Yellow)))
}

/// wrangle's own message text and its `*` marker.
pub(crate) fn tone(tone: Tone) -> Style {
    let color = match tone {
        Tone::Info => None,
        Tone::Good => Some(Color::Ansi(AnsiColor::Green)),
        Tone::Warn => Some(Color::Ansi(AnsiColor::Yellow)),
        Tone::Error => Some(Color::Ansi(AnsiColor::Red)),
    };
    Style::new().fg_color(color).bold()
}

/// The live progress line: dim, so it reads as transient.
pub(crate) fn status_line() -> Style {
    Style::new().dimmed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_service_is_red_and_neighbours_differ() {
        for service in 0..40 {
            let color = service_name(service).get_fg_color();
            assert_ne!(color, Some(Color::Ansi(AnsiColor::Red)));
            assert_ne!(color, Some(Color::Ansi(AnsiColor::BrightRed)));
            assert_ne!(color, service_name(service + 1).get_fg_color());
        }
    }

    #[test]
    fn huge_ids_do_not_panic() {
        let _ = service_name(usize::MAX);
    }
}
