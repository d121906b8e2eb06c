//! The heat map: every node of a racked lane (more than ten nodes, see [`crate::world::Racks`])
//! as one cell, grouped by rack. The glyph carries the node's state (`█` Ready, `▓` NotReady,
//! `▒` cordoned, `≈` cut off by a partition, `×` down), so it reads without colour (`NO_COLOR`);
//! the colour is its cpu requested. `h` toggles it, arrows move a cursor over nodes, `enter` zooms into the cursor's
//! rack (a table of its nodes), `d` describes the node under the cursor, `esc` steps back.
//!
//! Layout: racks stand in two columns of five (one if the screen is narrow), each a header line
//! and its nodes one cell each, wrapped to the column's width: 500 nodes a rack fit at 160×48
//! (seven rows of 78) and 200×50 (six rows of 98) without packing two nodes into a cell.
//!
//! Scale: what a cell or a rack card needs (pods by state, cpu and memory requested, a node's
//! readiness) is tallied per node and per rack from the store's change log ([`Tallies::sync`]),
//! so a frame reads counters instead of walking 150,000 pods; only a new store or a log
//! overflow recounts everything.

use super::App;
use crate::cluster::objects::{Node, Object, Pod, PodState, Readiness};
use crate::cluster::store::{ChangeType, ObjectKey, Store};
use crate::world::World;
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};
use std::collections::BTreeMap;

/// Pods on a node (or a rack), by what they are doing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PodTally {
    pub running: u32,
    /// Bound, the kubelet still starting them (`ContainerCreating`).
    pub starting: u32,
    pub terminating: u32,
    /// Requests of the pods that hold their node's resources (not finished ones).
    pub cpu_milli: i64,
    pub memory_milli: i64,
}

impl PodTally {
    pub fn pods(&self) -> u32 {
        self.running + self.starting + self.terminating
    }

    fn add(&mut self, mark: &PodMark, sign: i64) {
        let count = |n: &mut u32| *n = n.saturating_add_signed(sign as i32);
        match mark.state {
            PodState::Running => count(&mut self.running),
            PodState::ContainerCreating => count(&mut self.starting),
            PodState::Terminating => count(&mut self.terminating),
            PodState::Pending | PodState::Succeeded | PodState::Failed => return,
        }
        self.cpu_milli += sign * mark.cpu_milli;
        self.memory_milli += sign * mark.memory_milli;
    }
}

/// What one pod contributes to its node's tally, kept to take it back when the pod changes.
#[derive(Debug, Clone, Copy)]
struct PodMark {
    node: usize,
    state: PodState,
    cpu_milli: i64,
    memory_milli: i64,
}

/// A node as a cell shows it.
#[derive(Debug, Clone, Default)]
pub struct NodeCell {
    pub name: String,
    pub readiness: Option<Readiness>,
    pub cordoned: bool,
    pub cpu_milli: i64,
    pub memory_milli: i64,
    pub pods: PodTally,
    /// What its kubelet suffers (not in the store: the control plane must notice it).
    pub failure: Option<crate::cluster::Failure>,
}

/// Per-node and per-rack counters, following the store's change log.
#[derive(Debug, Default)]
pub struct Tallies {
    /// The store's resourceVersion these counters reflect.
    seen: u64,
    /// [`crate::cluster::Cluster::failures_changed`] when the failures were last merged in.
    failures_seen: Option<u64>,
    /// Every node of the World's pins, rack by rack (pin 1's first), each rack in rack order.
    pub nodes: Vec<NodeCell>,
    by_name: BTreeMap<String, usize>,
    /// Each node's pin (1..=10), when it is in a rack.
    pin_of: Vec<Option<u8>>,
    /// Pin 1 = index 0.
    pub racks: [PodTally; 10],
    /// Each rack's nodes, as indexes into `nodes` (pin 1 = index 0).
    rack_members: Vec<Vec<usize>>,
    /// By hash: every pod change looks its mark up, and nothing walks it in order.
    pods: crate::cluster::LookupMap<ObjectKey, PodMark>,
    /// Pods no node has taken yet: the scheduler's queue.
    pub unscheduled: u32,
}

impl Tallies {
    /// Recounts everything: a new World, or a change log that no longer reaches back.
    fn rebuild(&mut self, world: &World) {
        let store = &world.cluster().store;
        *self = Tallies { seen: store.resource_version(), ..Tallies::default() };
        // Rack by rack, so the cursor walks a rack's nodes before the next rack's; nodes in no
        // rack (pin agents that joined later) come last.
        let racks = world.racks();
        let racked = racks
            .into_iter()
            .flat_map(|r| (1..=10u8).flat_map(move |pin| r.nodes(pin).iter().map(move |n| (n, Some(pin)))));
        let unracked = world.pins().iter().filter(|n| racks.is_none_or(|r| r.pin_of(n).is_none())).map(|n| (n, None));
        for (name, pin) in racked.chain(unracked) {
            if let Some(pin) = pin {
                self.rack_members.resize(self.rack_members.len().max(usize::from(pin)), Vec::new());
                self.rack_members[usize::from(pin) - 1].push(self.nodes.len());
            }
            self.by_name.insert(name.clone(), self.nodes.len());
            self.pin_of.push(pin);
            let mut cell = NodeCell { name: name.clone(), ..NodeCell::default() };
            if let Some(node) = store.get::<Node>(&ObjectKey::cluster(name)) {
                set_node(&mut cell, node);
            }
            self.nodes.push(cell);
        }
        for pod in store.list::<Pod>() {
            self.put_pod(pod);
        }
    }

    /// Brings the counters up to the store, touching only what changed, and every node's
    /// failure up to its kubelet.
    pub fn sync(&mut self, world: &World) {
        self.sync_store(world);
        self.sync_failures(world);
    }

    /// Kubelet failures live outside the store, so there is no change log to follow: both
    /// sides are in name order, and one merge over them costs a string compare or two a node.
    fn sync_failures(&mut self, world: &World) {
        let changed = world.cluster().failures_changed();
        if self.failures_seen == Some(changed) {
            return;
        }
        self.failures_seen = Some(changed);
        let mut failures = world.cluster().failures().peekable();
        for (name, &i) in &self.by_name {
            while failures.next_if(|(node, _)| *node < name.as_str()).is_some() {}
            self.nodes[i].failure = failures.next_if(|(node, _)| *node == name.as_str()).and_then(|(_, f)| f);
        }
    }

    fn sync_store(&mut self, world: &World) {
        let store: &Store = &world.cluster().store;
        let rv = store.resource_version();
        if rv == self.seen && !self.nodes.is_empty() {
            return;
        }
        if rv < self.seen || self.nodes.len() != world.pins().len() {
            self.rebuild(world);
            return;
        }
        let Some(changes) = store.changes_since(self.seen) else {
            self.rebuild(world);
            return;
        };
        for change in changes {
            match &change.object {
                Object::Pod(pod) => {
                    let live = (change.type_ != ChangeType::Deleted).then_some(&**pod);
                    self.set_pod(ObjectKey::of(&pod.metadata), live);
                }
                Object::Node(node) => {
                    if let Some(&i) = self.by_name.get(&node.metadata.name) {
                        set_node(&mut self.nodes[i], node);
                    }
                }
                _ => {}
            }
        }
        self.seen = rv;
    }

    /// The nodes of rack `pin`, as the map shows them.
    pub fn rack_cells(&self, pin: u8) -> impl Iterator<Item = &NodeCell> {
        let members = usize::from(pin).checked_sub(1).and_then(|i| self.rack_members.get(i));
        members.into_iter().flatten().map(|&i| &self.nodes[i])
    }

    fn put_pod(&mut self, pod: &Pod) {
        self.set_pod(ObjectKey::of(&pod.metadata), Some(pod));
    }

    /// Counts `pod` (None: deleted) in place of what its last version counted: one lookup of
    /// the pod's mark per change (after a strike that is tens of thousands a frame).
    fn set_pod(&mut self, key: ObjectKey, pod: Option<&Pod>) {
        let mark = pod.and_then(|pod| self.mark_of(pod));
        let old = match mark {
            Some(mark) => self.pods.insert(key, mark),
            None => self.pods.remove(&key),
        };
        if let Some(old) = old {
            self.count(&old, -1);
        }
        if let Some(mark) = mark {
            self.count(&mark, 1);
        }
    }

    /// What `pod` adds to the counters: on its node, or to the unscheduled if it waits for
    /// one; nothing if it has no node and is not Pending.
    fn mark_of(&self, pod: &Pod) -> Option<PodMark> {
        let state = pod.state();
        match pod.node_name().and_then(|n| self.by_name.get(n).copied()) {
            Some(node) => {
                let requests = pod.requests();
                Some(PodMark { node, state, cpu_milli: requests.cpu_milli, memory_milli: requests.memory_milli })
            }
            None => (state == PodState::Pending).then_some(PodMark {
                node: UNSCHEDULED,
                state,
                cpu_milli: 0,
                memory_milli: 0,
            }),
        }
    }

    fn count(&mut self, mark: &PodMark, sign: i64) {
        if mark.node == UNSCHEDULED {
            self.unscheduled = self.unscheduled.saturating_add_signed(sign as i32);
            return;
        }
        self.nodes[mark.node].pods.add(mark, sign);
        if let Some(pin) = self.pin_of[mark.node] {
            self.racks[usize::from(pin) - 1].add(mark, sign);
        }
    }
}

/// The node of a [`PodMark`] that waits for one.
const UNSCHEDULED: usize = usize::MAX;

fn set_node(cell: &mut NodeCell, node: &Node) {
    cell.readiness = Some(node.readiness());
    cell.cordoned = node.spec.unschedulable;
    cell.cpu_milli = node.allocatable("cpu");
    cell.memory_milli = node.allocatable("memory");
}

/// A node's state as the map and the rack cards count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CellState {
    Ready,
    NotReady,
    Cordoned,
    /// Knocked: its kubelet is stopped.
    Down,
    /// Partitioned (a pin knocked by a pin): its kubelet runs its pods on, unseen by the API.
    Cut,
}

impl CellState {
    /// Every state, in the order the legend and the rack cards show them.
    pub const ALL: [CellState; 5] =
        [CellState::Ready, CellState::Cordoned, CellState::NotReady, CellState::Cut, CellState::Down];

    pub fn of(cell: &NodeCell) -> CellState {
        use crate::cluster::Failure;
        let failure = cell.failure;
        if failure == Some(Failure::Partition) {
            CellState::Cut
        } else if failure.is_some_and(Failure::fells_pin) {
            CellState::Down
        } else if cell.readiness != Some(Readiness::Ready) {
            CellState::NotReady
        } else if cell.cordoned {
            CellState::Cordoned
        } else {
            CellState::Ready
        }
    }

    pub fn glyph(self, unicode: bool) -> &'static str {
        match (self, unicode) {
            (CellState::Ready, true) => "█",
            (CellState::NotReady, true) => "▓",
            (CellState::Cordoned, true) => "▒",
            (CellState::Down, true) => "×",
            (CellState::Cut, true) => "≈",
            (CellState::Ready, false) => "#",
            (CellState::NotReady, false) => "?",
            (CellState::Cordoned, false) => "=",
            (CellState::Down, false) => "x",
            (CellState::Cut, false) => "~",
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            CellState::Ready => "Ready",
            CellState::NotReady => "NotReady",
            CellState::Cordoned => "Ready,SchedulingDisabled",
            CellState::Down => "down",
            CellState::Cut => "cut off",
        }
    }

    /// Whether the node's pin is down (crashed or cut off).
    pub fn fell(self) -> bool {
        matches!(self, CellState::Down | CellState::Cut)
    }
}

/// Percent of `total` that `used` is (0 when there is no total).
pub fn percent(used: i64, total: i64) -> i64 {
    if total <= 0 { 0 } else { used * 100 / total }
}

/// Colour for a utilisation: cool when idle, hot when full.
fn heat(percent: i64) -> Color {
    match percent {
        ..=24 => Color::Blue,
        25..=49 => Color::Cyan,
        50..=69 => Color::Green,
        70..=84 => Color::Yellow,
        _ => Color::Red,
    }
}

/// The heat map's state on the [`App`].
#[derive(Debug, Default)]
pub struct HeatMap {
    pub open: bool,
    /// Index into [`Tallies::nodes`] of the node under the cursor.
    pub cursor: usize,
    /// Zoomed into the cursor's rack.
    pub zoomed: bool,
    /// The node being described (`d`).
    pub describing: Option<String>,
    /// Cells per row of the last drawn map, so up and down move by a row.
    row_width: std::cell::Cell<usize>,
    pub tallies: Tallies,
}

/// Keeps the counters current; called after each tick (cheap when nothing changed).
pub fn refresh(app: &mut App) {
    if app.driver.world.racks().is_some() {
        app.heat.tallies.sync(&app.driver.world);
    }
}

/// Handles a key for the heat map; false when it is the game's.
pub fn handle_key(app: &mut App, key: KeyEvent) -> bool {
    if app.driver.world.racks().is_none() {
        return false;
    }
    let heat = &mut app.heat;
    if heat.describing.is_some() {
        if matches!(key.code, KeyCode::Esc | KeyCode::Char('d') | KeyCode::Enter | KeyCode::Char('q')) {
            heat.describing = None;
        }
        return true;
    }
    if key.code == KeyCode::Char('h') {
        heat.open = !heat.open;
        heat.zoomed = false;
        return true;
    }
    if !heat.open {
        return false;
    }
    let count = heat.tallies.nodes.len();
    if count == 0 {
        return false;
    }
    let row = heat.row_width.get().max(1);
    let cursor = heat.cursor.min(count - 1);
    heat.cursor = match key.code {
        KeyCode::Left => cursor.saturating_sub(1),
        KeyCode::Right => (cursor + 1).min(count - 1),
        KeyCode::Up if heat.zoomed => cursor.saturating_sub(1),
        KeyCode::Down if heat.zoomed => (cursor + 1).min(count - 1),
        KeyCode::Up => cursor.saturating_sub(row),
        KeyCode::Down => (cursor + row).min(count - 1),
        KeyCode::Enter => {
            heat.zoomed = true;
            cursor
        }
        KeyCode::Char('d') => {
            heat.describing = Some(heat.tallies.nodes[cursor].name.clone());
            cursor
        }
        KeyCode::Esc if heat.zoomed => {
            heat.zoomed = false;
            cursor
        }
        KeyCode::Esc => {
            heat.open = false;
            cursor
        }
        // Everything else (the chaos keys, bowling, `:`) stays the game's.
        _ => return false,
    };
    true
}

fn frame_block<'a>(app: &App, title: Line<'a>) -> Block<'a> {
    let block = Block::default().borders(Borders::ALL).title(title).border_style(app.theme.dim());
    if app.theme.unicode { block.border_type(BorderType::Rounded) } else { block }
}

/// Draws the map (or the zoomed rack) over `area`.
pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    if app.heat.zoomed {
        zoomed(frame, app, area);
    } else {
        map(frame, app, area);
    }
    if let Some(name) = &app.heat.describing {
        let lines = super::view::describe_node_named(app, name);
        let width = area.width.saturating_sub(4).min(110);
        let height = (lines.len() as u16 + 2).min(area.height);
        let rect = Rect { x: area.x + (area.width - width) / 2, y: area.y, width, height };
        frame.render_widget(Clear, rect);
        let title = Line::styled(format!(" describe node {name} "), app.theme.title());
        frame.render_widget(Paragraph::new(lines).block(frame_block(app, title)), rect);
    }
}

/// The frame's title: what it shows, how many nodes that is, and the pods without a node (as
/// the pinsetter panel counts them).
fn title_line(app: &App, what: String, nodes: usize) -> Line<'static> {
    let t = &app.theme;
    let unscheduled = app.heat.tallies.unscheduled;
    Line::from(vec![
        Span::styled(format!(" {what} · {nodes} nodes · "), t.title()),
        Span::styled(format!("{unscheduled} unscheduled "), if unscheduled > 0 { t.warn() } else { t.good() }),
    ])
}

fn map(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let world = &app.driver.world;
    let Some(racks) = world.racks() else { return };
    let tallies = &app.heat.tallies;
    let legend = CellState::ALL
        .map(|s| format!("{} {}", s.glyph(t.unicode), if s == CellState::Cordoned { "cordoned" } else { s.word() }))
        .join("  ");
    let title = title_line(app, "heat map".into(), tallies.nodes.len());
    let block = frame_block(app, title).title_bottom(Line::styled(
        format!(" {legend} · colour: cpu requested · h lane · enter zoom · d describe "),
        t.dim(),
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.width < 4 || inner.height < 2 {
        return;
    }
    let largest = (1..=10u8).map(|p| racks.nodes(p).len()).max().unwrap_or(0).max(1);
    // Two columns of five racks when a rack fits in them, else one column of ten.
    let fits = |columns: u16| {
        let width = usize::from(inner.width / columns).saturating_sub(1).max(1);
        let rows_per_rack = 1 + largest.div_ceil(width);
        (10 / usize::from(columns)) * rows_per_rack <= usize::from(inner.height)
    };
    let columns: u16 = if fits(2) || !fits(1) { 2 } else { 1 };
    let column_width = inner.width / columns;
    let width = usize::from(column_width).saturating_sub(1).max(1);
    app.heat.row_width.set(width);
    let rows_per_rack = 1 + largest.div_ceil(width) as u16;
    let per_column = 10 / columns;
    let cursor_node = tallies.nodes.get(app.heat.cursor).map(|c| c.name.as_str());
    let buf = frame.buffer_mut();
    let alley = world.alley();
    for pin in 1..=10u8 {
        let slot = u16::from(pin - 1);
        let (column, row) = (slot / per_column, slot % per_column);
        let x0 = inner.x + column * column_width;
        let y0 = inner.y + row * rows_per_rack;
        if y0 >= inner.bottom() {
            continue;
        }
        let nodes = racks.nodes(pin);
        let states: Vec<CellState> = tallies.rack_cells(pin).map(CellState::of).collect();
        let down = alley.pins().iter().any(|p| p.number == pin && !p.standing);
        let rack = &tallies.racks[usize::from(pin) - 1];
        let knocked = states.iter().filter(|s| s.fell()).count();
        let header = format!(
            "pin {pin} {} {}{} · {} pods · {} starting",
            racks.name(pin),
            if down { "DOWN " } else { "" },
            if knocked > 0 { format!("{knocked}/{} down", nodes.len()) } else { format!("{} up", nodes.len()) },
            rack.pods(),
            rack.starting,
        );
        let style = if down { t.bad().add_modifier(Modifier::BOLD) } else { t.title() };
        buf.set_stringn(x0, y0, &header, width, style);
        for (i, (cell, &state)) in tallies.rack_cells(pin).zip(&states).enumerate() {
            let y = y0 + 1 + (i / width) as u16;
            let x = x0 + (i % width) as u16;
            if y >= inner.bottom() || y >= y0 + rows_per_rack {
                break;
            }
            let mut style =
                if state.fell() { t.bad() } else { t.fg(heat(percent(cell.pods.cpu_milli, cell.cpu_milli))) };
            if cursor_node == Some(cell.name.as_str()) {
                style = style.add_modifier(Modifier::REVERSED);
            }
            buf[(x, y)].set_symbol(state.glyph(t.unicode)).set_style(style);
        }
    }
}

/// The cursor's rack as a table of its nodes, scrolled to keep the cursor in view.
fn zoomed(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let world = &app.driver.world;
    let tallies = &app.heat.tallies;
    let Some(cursor) = tallies.nodes.get(app.heat.cursor) else { return };
    let Some(racks) = world.racks() else { return };
    let pin = world.pin_number(&cursor.name).unwrap_or(1);
    let nodes = racks.nodes(pin);
    let title = title_line(app, format!("pin {pin} · {}", racks.name(pin)), nodes.len());
    let block =
        frame_block(app, title).title_bottom(Line::styled(" ↑↓ move · d describe · esc back to the map ", t.dim()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = usize::from(inner.height.saturating_sub(1));
    let at = nodes.iter().position(|n| *n == cursor.name).unwrap_or(0);
    let first = at.saturating_sub(rows.saturating_sub(1));
    let mut lines = vec![Line::styled(
        format!("{:<14} {:<26} {:>5} {:>5} {:>5} {:>5}", "NAME", "STATUS", "PODS", "START", "CPU%", "MEM%"),
        t.title(),
    )];
    for name in nodes.iter().skip(first).take(rows) {
        let Some(&index) = tallies.by_name.get(name) else { continue };
        let cell = &tallies.nodes[index];
        let state = CellState::of(cell);
        let cpu = percent(cell.pods.cpu_milli, cell.cpu_milli);
        let text = format!(
            "{:<14} {:<26} {:>5} {:>5} {:>5} {:>5}",
            name,
            format!("{} {}", state.glyph(t.unicode), state.word()),
            cell.pods.pods(),
            cell.pods.starting,
            cpu,
            percent(cell.pods.memory_milli, cell.memory_milli)
        );
        let mut style = match state {
            CellState::Down | CellState::Cut => t.bad(),
            CellState::NotReady | CellState::Cordoned => t.warn(),
            CellState::Ready => Style::new(),
        };
        if *name == cursor.name {
            style = style.add_modifier(Modifier::REVERSED);
        }
        lines.push(Line::styled(text, style));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
