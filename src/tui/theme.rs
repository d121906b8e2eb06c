//! Colours and glyphs in one place. Shape carries the meaning and colour only adds to it, so the
//! game reads the same with `NO_COLOR` and, with `--ascii`, on terminals without Unicode.

use crate::cluster::objects::PodState;
use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
    pub unicode: bool,
}

/// Deployment colours, in order of first appearance on the lane.
const PALETTE: [Color; 8] = [
    Color::Cyan,
    Color::Yellow,
    Color::Magenta,
    Color::Green,
    Color::Blue,
    Color::LightRed,
    Color::LightCyan,
    Color::LightGreen,
];

impl Theme {
    /// Colour unless `NO_COLOR` is set (<https://no-color.org>).
    pub fn from_env(ascii: bool) -> Theme {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme { color: !no_color, unicode: !ascii }
    }

    pub fn fg(&self, color: Color) -> Style {
        if self.color { Style::new().fg(color) } else { Style::new() }
    }

    pub fn dim(&self) -> Style {
        if self.color { Style::new().fg(Color::DarkGray) } else { Style::new().add_modifier(Modifier::DIM) }
    }

    pub fn title(&self) -> Style {
        self.fg(Color::White).add_modifier(Modifier::BOLD)
    }

    pub fn good(&self) -> Style {
        self.fg(Color::Green)
    }

    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }

    pub fn bad(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn note(&self) -> Style {
        self.fg(Color::LightBlue)
    }

    /// A freshly changed thing (a pod just bound, a pin just hit): reverse video reads without colour.
    pub fn flash(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
    }

    pub fn deployment(&self, index: usize) -> Style {
        self.fg(PALETTE[index % PALETTE.len()])
    }

    pub fn pod_glyph(&self, state: PodState) -> &'static str {
        match (state, self.unicode) {
            (PodState::Running, true) => "■",
            (PodState::Running, false) => "#",
            (PodState::ContainerCreating, true) => "◇",
            (PodState::ContainerCreating, false) => "+",
            (PodState::Terminating, true) => "×",
            (PodState::Terminating, false) => "x",
            (PodState::Pending, true) => "□",
            (PodState::Pending, false) => "o",
            (_, true) => "·",
            (_, false) => ".",
        }
    }

    pub fn ready(&self) -> &'static str {
        if self.unicode { "●" } else { "*" }
    }

    pub fn not_ready(&self) -> &'static str {
        if self.unicode { "◌" } else { "?" }
    }

    pub fn down(&self) -> &'static str {
        if self.unicode { "✖" } else { "X" }
    }

    pub fn ball(&self) -> &'static str {
        if self.unicode { "●" } else { "O" }
    }

    pub fn bar(&self, filled: bool) -> &'static str {
        match (filled, self.unicode) {
            (true, true) => "▮",
            (false, true) => "▯",
            (true, false) => "|",
            (false, false) => ".",
        }
    }

    pub fn gutter(&self) -> &'static str {
        if self.unicode { "▒" } else { ":" }
    }

    pub fn arrow(&self) -> &'static str {
        if self.unicode { "▲" } else { "^" }
    }

    pub fn foul_line(&self) -> &'static str {
        if self.unicode { "━" } else { "=" }
    }

    pub fn guide(&self) -> &'static str {
        if self.unicode { "┆" } else { ":" }
    }
}
