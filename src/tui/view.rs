//! Rendering: a pure function of the app's state onto a frame. The lane leads the eye to the
//! pins; the pins are the nodes; the pinsetter (the control plane) sits above them; everything
//! the control plane does shows where the player is already looking.

use super::{App, Overlay, Selection};
use crate::alley::Phase;
use crate::cluster::controllers::persistent_volume::local_volume_of;
use crate::cluster::objects::{Node, Pod, PodState, Readiness};
use crate::cluster::scheduler::Decision;
use crate::cluster::scheduler::framework::{NodeScore, Verdict};
use crate::cluster::store::ObjectKey;
use crate::world::Output;
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

pub const MIN_WIDTH: u16 = 100;
pub const MIN_HEIGHT: u16 = 30;

pub fn render(frame: &mut Frame, app: &App) {
    draw(frame, app);
    if !app.theme.unicode {
        asciify(frame.buffer_mut());
    }
}

/// `--ascii` promises a screen a plain terminal can show: whatever Unicode the text itself
/// carries (→, ×, …) is mapped to ASCII as the last step.
fn asciify(buffer: &mut ratatui::buffer::Buffer) {
    for cell in buffer.content.iter_mut() {
        if !cell.symbol().is_ascii() {
            let plain = match cell.symbol() {
                "→" => ">",
                "×" => "x",
                "…" => "~",
                "·" => ".",
                "°" => "d",
                "¼" => "/",
                _ => " ",
            };
            cell.set_symbol(plain);
        }
    }
}

fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area);
        return;
    }
    // Tall screens get the full cluster sheet (four rows, and a row per failure kind that has
    // happened); short ones keep room for the lane.
    let failure_kinds = app.driver.world.metrics().by_failure.len() as u16;
    let score_height = if area.height >= 40 { 7 + failure_kinds } else { 5 };
    let [top, middle, score, hints] = Layout::vertical([
        Constraint::Length(5),
        Constraint::Min(10),
        Constraint::Length(score_height),
        Constraint::Length(1),
    ])
    .areas(area);
    let side_width = (area.width / 3).clamp(38, 60);
    let [alley, side] = Layout::horizontal([Constraint::Min(50), Constraint::Length(side_width)]).areas(middle);
    pinsetter_panel(frame, app, top);
    let heat_map = app.heat.open && app.driver.world.racks().is_some();
    if app.views.table.is_some() {
        super::resources::draw(frame, app, middle);
    } else if heat_map {
        // The map takes the scorecard's rows too: 5,000 cells need them.
        super::heatmap::draw(frame, app, middle.union(score));
    } else {
        alley_view(frame, app, alley);
        side_panel(frame, app, side);
    }
    if !heat_map || app.views.table.is_some() {
        scorecard(frame, app, score);
    }
    if !super::resources::draw_bar(frame, app, hints) {
        hint_bar(frame, app, hints);
    }
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help => help(frame, app, area),
        Overlay::Describe => describe(frame, app, area),
        Overlay::GameOver => game_over(frame, app, area),
        Overlay::Ended => ended(frame, app, area),
    }
}

fn too_small(frame: &mut Frame, area: Rect) {
    let text = format!("terminal too small: need {MIN_WIDTH}×{MIN_HEIGHT}, have {}×{}", area.width, area.height);
    let lines = vec![Line::from(text), Line::from("enlarge the window, or press q to quit")];
    let y = area.y + area.height / 2;
    let rect = Rect { x: area.x, y: y.saturating_sub(1).max(area.y), width: area.width, height: 2.min(area.height) };
    frame.render_widget(Paragraph::new(lines).alignment(Alignment::Center), rect);
}

/// Borders for `--ascii`: box-drawing characters are Unicode too.
const ASCII_BORDER: ratatui::symbols::border::Set = ratatui::symbols::border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

fn bordered<'a>(app: &App, rounded: bool) -> Block<'a> {
    let block = Block::new().borders(Borders::ALL);
    if !app.theme.unicode {
        block.border_set(ASCII_BORDER)
    } else if rounded {
        block.border_type(BorderType::Rounded)
    } else {
        block.border_type(BorderType::Plain)
    }
}

fn block<'a>(title: impl Into<Line<'a>>, app: &App) -> Block<'a> {
    bordered(app, true).border_style(app.theme.dim()).title(title)
}

/// The cluster the screen shows: the World's, or the remote cluster's mirror
/// (`play --kubeconfig`; see `remote::cluster_view`). Everything that draws nodes and pods reads
/// it through here, so both are drawn by the same code.
pub fn cluster_store(app: &App) -> &crate::cluster::store::Store {
    app.remote.as_ref().map_or(&app.driver.world.cluster().store, |remote| &remote.store)
}

/// The remote cluster's place on the panel: context, server, version, mode and round trip, or
/// that it is unreachable.
fn remote_spans<'a>(app: &App, remote: &crate::remote::cluster_view::RemoteView) -> Vec<Span<'a>> {
    let t = &app.theme;
    let p = &remote.panel;
    let mut spans = vec![
        Span::styled("cluster ", t.title()),
        Span::raw(format!("{} {} {} ({}) ", p.context, p.server, p.version, p.mode)),
    ];
    match (&p.disconnected, p.latency) {
        (Some(_), _) => spans.push(Span::styled("DISCONNECTED, retrying   ", t.bad())),
        (None, Some(latency)) => spans.push(Span::raw(format!("rtt {} ms   ", latency.as_millis()))),
        (None, None) => spans.push(Span::styled("connecting   ", t.warn())),
    }
    spans
}

fn pinsetter_panel(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let world = &app.driver.world;
    let cluster = world.cluster();
    let counts = crate::world::PodCounts::of(cluster_store(app));
    let sched = &cluster.scheduler;
    let last = sched.stats.recent.back().map_or("-".to_string(), |(p, n, _)| format!("{p} → {n}"));
    let stats = cluster.controller_stats();
    let clock = format!(
        "{} {}×{} {}",
        world.now(),
        app.driver.speed,
        if app.driver.paused {
            " PAUSED"
        } else if app.driver.slowed {
            " slowed"
        } else {
            ""
        },
        cluster.timing.name()
    );
    let api = match (&app.api, &app.following) {
        (_, Some(following)) => vec![
            Span::styled("source ", t.title()),
            Span::raw(format!("{} ", following.source)),
            match &following.seat {
                Some(seat) => Span::styled(format!("bowling as {}   ", seat.name), t.good()),
                None => Span::styled("read only   ", t.dim()),
            },
        ],
        (Some(api), None) => {
            vec![Span::styled("api ", t.title()), Span::raw(format!("{:.0} req/s on {}   ", api.rate, api.addr))]
        }
        (None, None) => vec![Span::styled("api ", t.title()), Span::styled("off (play --listen ADDR)   ", t.dim())],
    };
    let api = app.remote.as_ref().map_or(api, |remote| remote_spans(app, remote));
    // On a remote cluster the local scheduler and store do nothing: the cluster's own do the work.
    let local = if app.remote.is_some() {
        Vec::new()
    } else {
        vec![
            Span::styled("scheduler ", t.title()),
            Span::raw(format!(
                "{}  queue {}  bound {}  {}",
                sched.policy.name(),
                sched.queue_len(),
                sched.stats.bound,
                if sched.stats.victims > 0 { format!("preempted {}  ", sched.stats.victims) } else { String::new() }
            )),
            Span::styled("last ", t.dim()),
            Span::raw(last),
            Span::styled("   store ", t.title()),
            // Writes since this store started, not the resourceVersion itself: a served store
            // starts its versions past a wall-clock base (see `start_resource_versions_after`),
            // a sixteen-digit number that tells a learner nothing.
            Span::raw(format!("{} writes", cluster.store.resource_version() - cluster.store.resource_version_base())),
        ]
    };
    // The game clock first: on a narrow terminal the end of this line is cut off, and the
    // clock (and `slowed` / `PAUSED`) is what a player must always see.
    let l1 = Line::from(
        [
            vec![
                Span::styled("⏱ ", t.title()),
                Span::styled(clock, if app.driver.paused { t.warn() } else { Style::new() }),
                Span::raw("   "),
            ],
            api,
            local,
        ]
        .concat(),
    );
    let controllers = if app.remote.is_some() {
        Vec::new()
    } else {
        vec![
            Span::styled("controllers ", t.title()),
            Span::raw(format!(
                "replicaset {}  deployment {}  node-lifecycle {}  taint-eviction {}  ",
                stats.get("replicaset"),
                stats.get("deployment"),
                stats.get("node_lifecycle"),
                stats.get("taint_eviction")
            )),
        ]
    };
    let mut l2 = Line::from(controllers);
    l2.spans.extend([
        Span::styled("pods ", t.title()),
        Span::styled(format!("{} running", counts.running), t.good()),
        Span::raw(format!(" / {} desired  ", counts.desired)),
        Span::styled(format!("{} unscheduled", counts.pending), if counts.pending > 0 { t.warn() } else { t.dim() }),
        Span::raw("  "),
        Span::styled(
            format!("{} terminating", counts.terminating),
            if counts.terminating > 0 { t.bad() } else { t.dim() },
        ),
    ]);
    if counts.waiting_for_their_pin > 0 {
        let n = counts.waiting_for_their_pin;
        let waiting = format!("  {n} {} for a pin", if n == 1 { "waits" } else { "wait" });
        l2.spans.push(Span::styled(waiting, t.warn()));
    }
    let mut title = vec![Span::styled(" PINSETTER ", t.title()), Span::styled("control plane ", t.dim())];
    if let Some(following) = &app.following {
        let ended = if following.follower.finished(world) { " ENDED" } else { "" };
        title.push(Span::styled(format!(" {}{ended} {} ", following.label(), following.source), t.warn()));
    }
    let title = Line::from(title);
    // On a remote cluster the local World elects nobody and evicts nothing: its leaders and
    // eviction regime would be made up, so the line is left out.
    // The eviction regime, while a zone is disrupted, leads: at 160 columns a stadium strike's
    // regime after the leaders was cut off, and it is what the player needs to read then.
    let mut l3 = Line::default();
    if app.remote.is_none() {
        if let Some(regime) = cluster.node_lifecycle().and_then(|n| n.regime(&cluster.timing)) {
            l3.spans.push(Span::styled("evictions ", t.title()));
            l3.spans.push(Span::styled(regime, t.bad()));
            l3.spans.push(Span::raw("   "));
        }
        l3.spans.extend(leaders_line(app).spans);
    }
    frame.render_widget(Paragraph::new(vec![l1, l2, l3]).block(block(title, app)), area);
}

/// Each elected component's replicas (● leader, ○ standby, ✖ knocked; `* o X` in ASCII), then its holder or,
/// while nobody leads, how long it has been without one: the gap the `k` key opens.
fn leaders_line(app: &App) -> Line<'static> {
    let t = &app.theme;
    let world = &app.driver.world;
    let mut spans = vec![Span::styled("leaders ", t.title())];
    for elected in world.cluster().leader_election.components() {
        spans.push(Span::raw(format!("{} ", elected.component.name())));
        for (index, replica) in elected.replicas.iter().enumerate() {
            let (glyph, style) = match (replica.alive, elected.leader() == Some(index)) {
                (false, _) => (t.down(), t.bad()),
                (true, true) => (t.ready(), t.good()),
                (true, false) => (if t.unicode { "○" } else { "o" }, t.dim()),
            };
            spans.push(Span::styled(glyph, style));
        }
        spans.push(Span::raw(" "));
        match (elected.leader(), elected.leaderless_since) {
            (Some(index), _) => {
                // `pinsetter-cp-2_1ee1d4a8-…`: the host and the uuid's first group tell them apart.
                let identity = &elected.replicas[index].identity;
                let short = identity.split('-').take(3).collect::<Vec<_>>().join("-");
                spans.push(Span::raw(short));
            }
            (None, since) => {
                let gap = since.map_or(0, |s| world.now().saturating_sub(s).0);
                spans.push(Span::styled(format!("no leader for {:.1} s", gap as f64 / 1000.0), t.bad()));
            }
        }
        spans.push(Span::raw("   "));
    }
    Line::from(spans)
}

/// Pins in the 4-3-2-1 rack, back row first (as seen from the bowler, looking down the lane).
const RACK_ROWS: [&[u8]; 4] = [&[7, 8, 9, 10], &[4, 5, 6], &[2, 3], &[1]];

struct Geometry {
    card_w: u16,
    card_h: u16,
    left: u16,
    deck_top: u16,
    lane_top: u16,
    lane_bottom: u16,
    center: f64,
    cols_per_m: f64,
}

fn geometry(area: Rect) -> Geometry {
    let card_w = ((area.width.saturating_sub(2)) / 4).saturating_sub(1).clamp(14, 26);
    let card_h = if area.height >= 30 {
        6
    } else if area.height >= 24 {
        5
    } else {
        4
    };
    let deck_w = 4 * card_w + 3;
    let left = area.x + area.width.saturating_sub(deck_w) / 2;
    let deck_top = area.y;
    let lane_top = deck_top + 4 * card_h;
    Geometry {
        card_w,
        card_h,
        left,
        deck_top,
        lane_top,
        lane_bottom: area.y + area.height,
        center: f64::from(left) + f64::from(deck_w) / 2.0,
        cols_per_m: f64::from(card_w + 1) / 0.3048,
    }
}

fn alley_view(frame: &mut Frame, app: &App, area: Rect) {
    let g = geometry(area);
    for (row, pins) in RACK_ROWS.iter().enumerate() {
        let row_w = pins.len() as u16 * (g.card_w + 1) - 1;
        let x0 = g.left + (4 * (g.card_w + 1) - 1 - row_w) / 2;
        for (i, &pin) in pins.iter().enumerate() {
            let rect = Rect {
                x: x0 + i as u16 * (g.card_w + 1),
                y: g.deck_top + row as u16 * g.card_h,
                width: g.card_w,
                height: g.card_h,
            };
            if rect.bottom() <= area.bottom() {
                pin_card(frame, app, pin, rect);
            }
        }
    }
    lane(frame, app, &g, area);
}

fn bar(app: &App, used: i64, total: i64, width: usize) -> (String, f64) {
    let share = if total <= 0 { 0.0 } else { used as f64 / total as f64 };
    let filled = ((share * width as f64).round() as usize).min(width);
    let mut s = String::new();
    for i in 0..width {
        s.push_str(app.theme.bar(i < filled));
    }
    (s, share)
}

fn pin_card(frame: &mut Frame, app: &App, pin: u8, rect: Rect) {
    let t = &app.theme;
    let world = &app.driver.world;
    if let Some(racks) = world.racks() {
        rack_card(frame, app, racks, pin, rect);
        return;
    }
    let Some(name) = world.pins().get(usize::from(pin) - 1) else { return };
    let cluster = world.cluster();
    let Some(node) = cluster_store(app).get::<Node>(&ObjectKey::cluster(name)) else { return };
    let down = cluster.is_knocked(name);
    let selected = app.selection == Selection::Pin(pin);
    let hit = app.flash_pins.get(&pin).is_some_and(|until| *until > world.now());
    // Narrow cards get the short words; the glyph carries the state either way.
    let narrow = rect.width < 22;
    // A partitioned pin is down too, but its pods still run: "CUT", not "DOWN".
    let failure = cluster.failure(name);
    let cut = failure == Some(crate::cluster::Failure::Partition);
    let (glyph, status, style) = match (down, node.readiness()) {
        (true, Readiness::Ready) if cut => (t.down(), if narrow { "CUT" } else { "CUT · API: Ready" }, t.bad()),
        (true, _) if cut => (t.down(), if narrow { "NotReady" } else { "CUT · NotReady" }, t.bad()),
        (true, Readiness::Ready) => (t.down(), if narrow { "DOWN" } else { "DOWN · API: Ready" }, t.bad()),
        (true, _) => (t.down(), if narrow { "NotReady" } else { "DOWN · NotReady" }, t.bad()),
        (false, Readiness::Ready) if failure == Some(crate::cluster::Failure::Pressure) => {
            (t.ready(), if narrow { "Ready" } else { "Ready · mem pressure" }, t.warn())
        }
        (false, Readiness::Ready) => (t.ready(), "Ready", t.good()),
        (false, Readiness::Unknown) => {
            (t.not_ready(), if narrow { "rejoining" } else { "NotReady (rejoining)" }, t.warn())
        }
        (false, Readiness::NotReady) => (t.not_ready(), "NotReady", t.warn()),
    };
    let mut status_spans = vec![Span::styled(format!("{glyph} {status}"), style)];
    if node.spec.unschedulable {
        status_spans.push(Span::styled(" cordoned", t.warn()));
    }
    let pods: Vec<&Pod> = cluster_store(app).pods_on_node(name).collect();
    let requested: (i64, i64) = pods
        .iter()
        .filter(|p| p.is_active())
        .fold((0, 0), |acc, p| (acc.0 + p.requests().cpu_milli, acc.1 + p.requests().memory_milli));
    let inner_w = rect.width.saturating_sub(2) as usize;
    let bar_w = inner_w.saturating_sub(9).clamp(3, 12);
    let (cpu_bar, cpu) = bar(app, requested.0, node.allocatable("cpu"), bar_w);
    let (mem_bar, mem) = bar(app, requested.1, node.allocatable("memory"), bar_w);
    let bar_style = if down { t.dim() } else { Style::new() };
    // Short cards keep the status and the pods; the bars go first.
    let mut lines = vec![Line::from(status_spans)];
    if rect.height >= 5 {
        lines.push(Line::from(vec![
            Span::styled("cpu ", t.dim()),
            Span::styled(cpu_bar, bar_style),
            Span::raw(format!("{:>4.0}%", cpu * 100.0)),
        ]));
    }
    if rect.height >= 6 {
        lines.push(Line::from(vec![
            Span::styled("mem ", t.dim()),
            Span::styled(mem_bar, bar_style),
            Span::raw(format!("{:>4.0}%", mem * 100.0)),
        ]));
    }
    let pod_rows = (rect.height as usize).saturating_sub(2 + lines.len()).max(1);
    let capacity = inner_w * pod_rows;
    let mut glyphs: Vec<Span> = Vec::new();
    for (i, pod) in pods.iter().enumerate() {
        if i + 1 > capacity.saturating_sub(2) && pods.len() > capacity {
            glyphs.push(Span::raw(format!("+{}", pods.len() - i)));
            break;
        }
        let state = pod.state();
        let mut style = t.deployment(app.deployment_index(pod));
        if app.flash_pods.lit(&ObjectKey::of(&pod.metadata), world.now()) {
            style = style.patch(t.flash());
        }
        if state == PodState::Terminating {
            style = style.add_modifier(Modifier::SLOW_BLINK);
        }
        if matches!(app.selection, Selection::Pod(ref k) if *k == ObjectKey::of(&pod.metadata)) {
            style = style.add_modifier(Modifier::UNDERLINED);
        }
        glyphs.push(Span::styled(pod_card_glyph(app, pod, state), style));
    }
    let mut row = Vec::new();
    for g in glyphs {
        row.push(g);
        if row.len() == inner_w {
            lines.push(Line::from(std::mem::take(&mut row)));
        }
    }
    if !row.is_empty() || pods.is_empty() {
        lines.push(Line::from(row));
    }
    let border = card_border(t, hit, selected, down);
    let mut title = vec![Span::styled(
        format!(" {name} "),
        if selected { t.title().add_modifier(Modifier::REVERSED) } else { t.title() },
    )];
    if is_external(node) {
        title.push(Span::styled("ext ", t.note()));
    }
    let title = Line::from(title);
    let card = bordered(app, !down).border_style(border).title(title);
    frame.render_widget(Paragraph::new(lines).block(card), rect);
}

/// Pods as a card has room for: `14.2k` past four digits.
fn short_count(n: u32) -> String {
    if n < 10_000 { n.to_string() } else { format!("{:.1}k", f64::from(n) / 1000.0) }
}

/// A pin of a racked lane: its rack's nodes as a state bar (`█` Ready, `▓` NotReady, `▒`
/// cordoned, `×` down, in proportion), cpu and memory requested, and its pods by state, all
/// from the heat map's incremental tallies (no walk over the rack's pods).
fn rack_card(frame: &mut Frame, app: &App, racks: &crate::world::Racks, pin: u8, rect: Rect) {
    use super::heatmap::CellState;
    let t = &app.theme;
    let world = &app.driver.world;
    let tallies = &app.heat.tallies;
    let nodes = racks.nodes(pin);
    let mut states = [0usize; CellState::ALL.len()];
    let (mut cpu_total, mut mem_total) = (0i64, 0i64);
    for cell in tallies.rack_cells(pin) {
        states[CellState::of(cell) as usize] += 1;
        cpu_total += cell.cpu_milli;
        mem_total += cell.memory_milli;
    }
    let pods = tallies.racks.get(usize::from(pin) - 1).copied().unwrap_or_default();
    let down = world.alley().pins().iter().any(|p| p.number == pin && !p.standing);
    let selected = app.selection == Selection::Pin(pin);
    let hit = app.flash_pins.get(&pin).is_some_and(|until| *until > world.now());
    let inner_w = rect.width.saturating_sub(2) as usize;
    let count = format!(" {}/{}", states[CellState::Ready as usize], nodes.len());
    let bar_w = inner_w.saturating_sub(count.len()).max(1);
    let mut bar_spans = Vec::new();
    let mut drawn = 0;
    let order = CellState::ALL;
    for (k, state) in order.iter().enumerate() {
        let n = states[*state as usize];
        // Each state with any node gets at least one cell; the last takes what is left.
        let mut w = if n == 0 { 0 } else { (n * bar_w).div_ceil(nodes.len().max(1)).max(1) };
        if k == order.len() - 1 || drawn + w > bar_w {
            w = if n == 0 { 0 } else { bar_w.saturating_sub(drawn) };
        }
        let style = match state {
            CellState::Ready => t.good(),
            CellState::Cordoned | CellState::NotReady => t.warn(),
            CellState::Down | CellState::Cut => t.bad(),
        };
        bar_spans.push(Span::styled(state.glyph(t.unicode).repeat(w), style));
        drawn += w;
    }
    bar_spans.push(Span::raw(count));
    let mut lines = vec![Line::from(bar_spans)];
    let meter_w = inner_w.saturating_sub(9).clamp(3, 12);
    let bar_style = if down { t.dim() } else { Style::new() };
    for (label, used, total) in [("cpu ", pods.cpu_milli, cpu_total), ("mem ", pods.memory_milli, mem_total)] {
        if rect.height as usize >= 4 + lines.len() {
            let (meter, share) = bar(app, used, total, meter_w);
            lines.push(Line::from(vec![
                Span::styled(label, t.dim()),
                Span::styled(meter, bar_style),
                Span::raw(format!("{:>4.0}%", share * 100.0)),
            ]));
        }
    }
    let mut pod_spans = vec![Span::styled(format!("{} run", short_count(pods.running)), t.good())];
    if pods.starting > 0 {
        pod_spans.push(Span::styled(format!(" {} new", short_count(pods.starting)), t.warn()));
    }
    if pods.terminating > 0 {
        pod_spans.push(Span::styled(format!(" {} term", short_count(pods.terminating)), t.bad()));
    }
    lines.push(Line::from(pod_spans));
    let border = card_border(t, hit, selected, down);
    let title = Line::from(Span::styled(
        format!(" {pin} {} ", racks.name(pin)),
        if selected { t.title().add_modifier(Modifier::REVERSED) } else { t.title() },
    ));
    let card = bordered(app, !down).border_style(border).title(title);
    frame.render_widget(Paragraph::new(lines).block(card), rect);
}

fn lane(frame: &mut Frame, app: &App, g: &Geometry, area: Rect) {
    let t = &app.theme;
    let rows = g.lane_bottom.saturating_sub(g.lane_top);
    if rows < 3 {
        return;
    }
    let half = 0.527 * g.cols_per_m;
    let left_edge = (g.center - half).round() as u16;
    let right_edge = (g.center + half).round() as u16;
    let buf = frame.buffer_mut();
    let alley = app.driver.world.alley();
    // Lane length 0..18.0 m maps to rows bottom (foul line) .. top.
    let lane_rows = rows - 1;
    let y_of = |y_m: f64| -> Option<u16> {
        if !(0.0..=18.0).contains(&y_m) {
            return None;
        }
        let r = ((y_m / 18.0) * f64::from(lane_rows - 1)).round() as u16;
        Some(g.lane_top + lane_rows - 1 - r)
    };
    let x_of = |x_m: f64| -> u16 { (g.center + x_m * g.cols_per_m).round().max(0.0) as u16 };
    let arrows_row = y_of(4.6);
    for row in 0..lane_rows {
        let y = g.lane_top + row;
        for x in [left_edge.saturating_sub(1), right_edge + 1] {
            if x >= area.left() && x < area.right() {
                buf[(x, y)].set_symbol(t.gutter()).set_style(t.dim());
            }
        }
        if Some(y) == arrows_row {
            for i in 1..=6 {
                let x = left_edge + (right_edge - left_edge) * i / 7;
                buf[(x, y)].set_symbol(t.arrow()).set_style(t.dim());
            }
        }
    }
    let foul_y = g.lane_top + lane_rows;
    for x in left_edge.saturating_sub(1)..=(right_edge + 1).min(area.right() - 1) {
        buf[(x, foul_y)].set_symbol(t.foul_line()).set_style(t.dim());
    }
    // The aim guide while the player sets up the shot.
    if matches!(alley.phase(), Phase::Aiming | Phase::Power) {
        for (x, y) in alley.predicted_path() {
            if let Some(row) = y_of(y) {
                let col = x_of(x);
                if col >= area.left() && col < area.right() {
                    buf[(col, row)].set_symbol(t.guide()).set_style(t.dim());
                }
            }
        }
        let setup = alley.setup();
        let col = x_of(setup.position_m);
        if let Some(row) = y_of(0.0)
            && col < area.right()
        {
            buf[(col, row)]
                .set_symbol(t.ball())
                .set_style(t.fg(ratatui::style::Color::LightRed).add_modifier(Modifier::BOLD));
        }
    }
    if let Some(ball) = alley.ball() {
        let col = x_of(ball.x);
        let row = y_of(ball.y).or_else(|| {
            // In the deck: map 18.0..19.4 m onto the rack rows.
            (ball.y > 18.0 && ball.y < 19.6).then(|| {
                let deck_rows = f64::from(4 * g.card_h);
                let r = ((ball.y - 18.0) / 1.3 * deck_rows).round().min(deck_rows - 1.0) as u16;
                g.lane_top.saturating_sub(1 + r)
            })
        });
        if let Some(row) = row
            && col >= area.left()
            && col < area.right()
            && row >= area.top()
        {
            buf[(col, row)]
                .set_symbol(t.ball())
                .set_style(t.fg(ratatui::style::Color::LightRed).add_modifier(Modifier::BOLD));
        }
    }
}

/// A pin run by a `pinsetter pin` agent process rather than simulated in the game.
fn is_external(node: &Node) -> bool {
    node.metadata.labels.get(crate::cluster::agents::AGENT_LABEL).map(String::as_str)
        == Some(crate::cluster::agents::AGENT_EXTERNAL)
}

fn side_panel(frame: &mut Frame, app: &App, area: Rect) {
    // Pins beyond the ten-pin rack (agents joining a full lane) stand in a side rack.
    // On a racked lane every node is in a rack (the heat map shows them all).
    let extra = if app.driver.world.racks().is_some() { 0 } else { app.driver.world.pins().len().saturating_sub(10) };
    let area = if extra > 0 {
        let height = (extra as u16 + 2).min(area.height / 3);
        let [rack, rest] = Layout::vertical([Constraint::Length(height), Constraint::Min(10)]).areas(area);
        side_rack(frame, app, rack);
        rest
    } else {
        area
    };
    let [events_area, pending_area, selected_area] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(25), Constraint::Min(5)]).areas(area);
    events(frame, app, events_area);
    unscheduled(frame, app, pending_area);
    selected(frame, app, selected_area);
}

/// One line per pin beyond the rack: status glyph, name, `ext` for agents, and its pods.
fn side_rack(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let world = &app.driver.world;
    let store = &world.cluster().store;
    let width = area.width.saturating_sub(2) as usize;
    let mut lines = Vec::new();
    for name in world.pins().iter().skip(10) {
        let Some(node) = store.get::<Node>(&ObjectKey::cluster(name)) else { continue };
        let (glyph, style) = match (world.cluster().is_knocked(name), node.readiness()) {
            (true, _) => (t.down(), t.bad()),
            (false, Readiness::Ready) => (t.ready(), t.good()),
            _ => (t.not_ready(), t.warn()),
        };
        let mut spans = vec![Span::styled(format!("{glyph} {name} "), style)];
        if is_external(node) {
            spans.push(Span::styled("ext ", t.note()));
        }
        let used: usize = spans.iter().map(|s| s.width()).sum();
        for pod in store.pods_on_node(name).take(width.saturating_sub(used)) {
            spans.push(Span::styled(t.pod_glyph(pod.state()), t.deployment(app.deployment_index(pod))));
        }
        lines.push(Line::from(spans));
    }
    frame.render_widget(Paragraph::new(lines).block(block(" side rack: pins beyond ten ", app)), area);
}

fn events(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let width = area.width.saturating_sub(2) as usize;
    let height = area.height.saturating_sub(2) as usize;
    // Bursts (six evictions in one instant) become one entry, so the event that caused them
    // (NodeNotReady) stays on screen.
    let mut groups: Vec<Vec<&Output>> = Vec::new();
    for output in app.driver.world.log().rev() {
        let same = |a: &Output, b: &Output| match (a, b) {
            (Output::Event(x), Output::Event(y)) => x.at == y.at && x.reason == y.reason,
            _ => false,
        };
        match output {
            // Kubelet chatter would bury the control plane's story; `pinsetter sim` shows it all.
            Output::Event(e) if matches!(e.reason, "Started" | "Killing") => continue,
            Output::Alley(_) => continue,
            _ => {}
        }
        match groups.last_mut() {
            Some(group) if same(group[0], output) => group.push(output),
            _ => groups.push(vec![output]),
        }
        if groups.len() * 2 > height + 2 {
            break;
        }
    }
    let mut lines = Vec::new();
    for group in groups {
        if lines.len() + 2 > height {
            break;
        }
        match group[0] {
            Output::Event(e) => {
                let style = if e.type_ == "Warning" { t.warn() } else { t.good() };
                let (head, message) = if group.len() == 1 {
                    (e.object.clone(), short_message(&e.message))
                } else {
                    let records: Vec<_> =
                        group.iter().filter_map(|o| if let Output::Event(e) = o { Some(e) } else { None }).collect();
                    let message = if e.reason == "Scheduled" {
                        let mut targets: std::collections::BTreeMap<&str, usize> = Default::default();
                        for r in &records {
                            *targets.entry(r.message.rsplit(' ').next().unwrap_or("")).or_default() += 1;
                        }
                        format!(
                            "to {}",
                            targets.iter().map(|(n, c)| format!("{n} ×{c}")).collect::<Vec<_>>().join(", ")
                        )
                    } else {
                        format!("{} (and {} more)", short_message(&e.message), records.len() - 1)
                    };
                    (format!("×{}", records.len()), message)
                };
                lines.push(Line::from(vec![
                    Span::styled(format!("{:>6} ", e.at.to_string()), t.dim()),
                    Span::styled(format!("{} ", e.reason), style.add_modifier(Modifier::BOLD)),
                    Span::raw(truncate(&head, width.saturating_sub(8 + e.reason.len()))),
                ]));
                lines.push(Line::from(Span::styled(
                    format!("       {}", truncate(&message, width.saturating_sub(7))),
                    t.dim(),
                )));
            }
            Output::Note { at, text } => {
                lines.push(Line::from(vec![
                    Span::styled(format!("{:>6} ", at.to_string()), t.dim()),
                    Span::styled(truncate(text, width.saturating_sub(7)), t.note()),
                ]));
                if text.chars().count() > width.saturating_sub(7) {
                    let rest: String = text.chars().skip(width.saturating_sub(8)).collect();
                    lines.push(Line::from(Span::styled(
                        format!("       {}", truncate(&rest, width.saturating_sub(7))),
                        t.note(),
                    )));
                }
            }
            Output::Alley(_) => {}
        }
    }
    frame.render_widget(
        Paragraph::new(lines).block(block(" events (newest first; kubelet Started/Killing hidden) ", app)),
        area,
    );
}

/// "Successfully assigned default/web-x to pin-4": keep the part that says where.
fn short_message(message: &str) -> String {
    message.replace("Successfully assigned default/", "assigned ").replace(" Pod default/", " Pod ")
}

/// Shortens upstream's FailedScheduling reasons to fit a side panel line.
fn short_reason(message: &str) -> String {
    message
        .replace(" nodes are available", "")
        .replace("node(s) had untolerated taint {node.kubernetes.io/unreachable: }", "unreachable")
        .replace("node(s) had untolerated taint {node.kubernetes.io/not-ready: }", "not-ready")
        .replace("node(s) were unschedulable", "cordoned")
        .replace("Insufficient ", "no ")
}

/// Why a Pending pod still waits, in a few words: for one without a node, the scheduler's
/// verdict (its `PodScheduled` condition, as a real cluster's scheduler writes it too); for one
/// bound but not running, its containers' waiting reason on that node. None for any other pod.
pub fn why_waiting(app: &App, pod: &Pod) -> Option<String> {
    // No phase yet is a pod just created, before anyone wrote its status: it waits too.
    if !matches!(pod.status.phase.as_str(), "" | "Pending") || pod.metadata.is_terminating() {
        return None;
    }
    let Some(node) = pod.node_name() else {
        let condition = pod.status.conditions.iter().find(|c| c.type_ == "PodScheduled" && c.status == "False");
        let verdict = condition.filter(|c| !c.message.is_empty()).map(|c| c.message.to_string()).or_else(|| {
            let decision = app.driver.world.cluster().scheduler.decision(pod);
            decision.filter(|d| d.node.is_none()).map(|d| d.message.clone())
        });
        return Some(verdict.map_or("waiting for the scheduler".into(), |m| short_reason(&m)));
    };
    let waiting = pod.status.container_statuses.iter().find_map(|c| c.state.waiting.as_ref());
    Some(match waiting {
        Some(w) if !w.message.is_empty() => format!("{} on {node}: {}", w.reason, w.message),
        Some(w) => format!("{} on {node}", w.reason),
        None => format!("bound to {node}, waiting for its kubelet"),
    })
}

fn unscheduled(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let width = area.width.saturating_sub(2) as usize;
    let store = cluster_store(app);
    let total = store.pods_in_state(PodState::Pending);
    let mut lines = Vec::new();
    for pod in store.pending_pods().take(area.height.saturating_sub(2) as usize) {
        let key = ObjectKey::of(&pod.metadata);
        let why = why_waiting(app, pod).unwrap_or_default();
        let mut style = t.deployment(app.deployment_index(pod));
        if app.selection == Selection::Pod(key) {
            style = style.add_modifier(Modifier::REVERSED);
        }
        lines.push(Line::from(vec![
            Span::styled(format!("{} {} ", t.pod_glyph(PodState::Pending), pod.metadata.name), style),
            Span::styled(truncate(&why, width.saturating_sub(pod.metadata.name.len() + 3)), t.warn()),
        ]));
    }
    if total == 0 {
        lines.push(Line::styled("none: every pod has a pin", t.dim()));
    }
    let title = format!(" unscheduled ({total}) ");
    frame.render_widget(Paragraph::new(lines).block(block(title, app)), area);
}

fn selected(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let world = &app.driver.world;
    let store = cluster_store(app);
    let mut lines = Vec::new();
    let title = match &app.selection {
        Selection::Pin(pin) => {
            let name = world.pins().get(usize::from(*pin) - 1).cloned().unwrap_or_default();
            if let Some(node) = store.get::<Node>(&ObjectKey::cluster(&name)) {
                let pods: Vec<&Pod> = store.pods_on_node(&name).filter(|p| p.is_active()).collect();
                let cpu: i64 = pods.iter().map(|p| p.requests().cpu_milli).sum();
                let mem: i64 = pods.iter().map(|p| p.requests().memory_milli).sum();
                let taints = if node.spec.taints.is_empty() {
                    "none".to_string()
                } else {
                    node.spec
                        .taints
                        .iter()
                        .map(|t| format!("{}:{}", t.key.trim_start_matches("node.kubernetes.io/"), t.effect))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                lines.push(Line::from(format!(
                    "{:?} · {:.1}/{:.0} cpu · {:.1}/{:.0}Gi · {} pods",
                    node.readiness(),
                    cpu as f64 / 1000.0,
                    node.allocatable("cpu") as f64 / 1000.0,
                    mem as f64 / 1000.0 / f64::from(1u32 << 30),
                    node.allocatable("memory") as f64 / 1000.0 / f64::from(1u32 << 30),
                    pods.len()
                )));
                lines.push(Line::from(format!("taints: {taints}")));
                lines.push(Line::from(format!("cordoned: {}", if node.spec.unschedulable { "yes" } else { "no" })));
            }
            format!(" selected: {name} (d: describe) ")
        }
        Selection::Pod(key) => {
            if let Some(pod) = store.get::<Pod>(key) {
                lines.push(Line::from(format!(
                    "{} · node {}",
                    pod.state().as_str(),
                    pod.node_name().unwrap_or("none")
                )));
                if let Some(d) = world.cluster().scheduler.decision(pod) {
                    lines.push(Line::from(Span::styled(
                        d.message.clone(),
                        if d.node.is_none() { t.warn() } else { Style::new() },
                    )));
                }
            } else {
                lines.push(Line::styled("gone", t.dim()));
            }
            format!(" selected: {} (d: why) ", key.name)
        }
    };
    lines.push(Line::default());
    lines.push(legend(app));
    if let Some(storage) = storage_legend(app) {
        lines.push(storage);
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).block(block(title, app)), area);
}

fn legend(app: &App) -> Line<'static> {
    let t = &app.theme;
    let mut spans = Vec::new();
    for (name, i) in app.workloads() {
        spans.push(Span::styled(format!("{} {name} ", t.pod_glyph(PodState::Running)), t.deployment(i)));
    }
    spans.push(Span::styled(
        format!(
            " {} running {} starting {} pending {} terminating",
            t.pod_glyph(PodState::Running),
            t.pod_glyph(PodState::ContainerCreating),
            t.pod_glyph(PodState::Pending),
            t.pod_glyph(PodState::Terminating)
        ),
        t.dim(),
    ));
    Line::from(spans)
}

/// The pin cards' volume glyphs, explained on lanes that have claims (the others never show them).
fn storage_legend(app: &App) -> Option<Line<'static>> {
    use crate::cluster::objects::PersistentVolumeClaim;
    cluster_store(app).list::<PersistentVolumeClaim>().next()?;
    let (volumes, held) = if app.theme.unicode { ("▤", "▣") } else { ("%", "@") };
    Some(Line::styled(format!("{volumes} with volumes  {held} held by its pin's local disk"), app.theme.dim()))
}

fn scorecard(frame: &mut Frame, app: &App, area: Rect) {
    let alley = app.driver.world.alley();
    let [bowling, cluster] = Layout::horizontal([Constraint::Length(64), Constraint::Min(30)]).areas(area);
    if alley.bowlers().len() > 1 {
        bowlers_sheet(frame, app, bowling);
    } else {
        one_bowler_sheet(frame, app, bowling);
    }
    cluster_sheet(frame, app, cluster, alley.frame());
}

/// The sheet of a game with one bowler: frame numbers, marks and running totals.
fn one_bowler_sheet(frame: &mut Frame, app: &App, bowling: Rect) {
    let t = &app.theme;
    let alley = app.driver.world.alley();
    let card = alley.scorecard();
    let totals = card.frame_totals();
    let current = alley.frame();
    let mut head = vec![Span::styled("frame ", t.dim())];
    let mut marks = vec![Span::styled("rolls ", t.dim())];
    let mut sums = vec![Span::styled("total ", t.dim())];
    for f in 1..=10u8 {
        let style = if f == current && alley.phase() != Phase::GameOver {
            t.title().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        };
        let w = if f == 10 { 6 } else { 5 };
        head.push(Span::styled(format!("{f:^w$}"), style));
        marks.push(Span::raw(format!("{:^w$}", card.marks(f))));
        sums.push(Span::raw(format!("{:^w$}", totals[usize::from(f) - 1].map_or(String::new(), |s| s.to_string()))));
    }
    let title = Line::from(vec![
        Span::styled(format!(" bowler  {} ", card.total()), t.title()),
        Span::styled(setup_text(alley), t.dim()),
    ]);
    frame.render_widget(
        Paragraph::new(vec![Line::from(head), Line::from(marks), Line::from(sums)]).block(block(title, app)),
        bowling,
    );
}

/// The title of the bowling sheet past its score: the frame, the ball and the line of the
/// bowler who is up.
fn setup_text(alley: &crate::alley::Alley) -> String {
    let power = alley.power_meter().map_or(String::new(), |p| format!("  power {:.0}%", p * 100.0));
    let setup = alley.setup();
    format!(
        "frame {} ball {}  pos {:+.2}m aim {:+.2}° hook {:+}{} ",
        alley.frame(),
        alley.roll_in_frame(),
        setup.position_m,
        setup.aim_deg,
        setup.hook,
        power
    )
}

/// Characters of a bowler's name on the sheet with two or more bowlers.
const SHEET_NAME: usize = 6;

/// The sheet of a game with two or more bowlers: a row of marks per bowler with their score
/// so far, the one who is up marked `>`; the rows follow the bowler who is up when not all fit.
fn bowlers_sheet(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let alley = app.driver.world.alley();
    let over = alley.phase() == Phase::GameOver;
    let up = usize::from(alley.bowler_up());
    let current = alley.frame();
    let mut head = vec![Span::styled(format!("{:<w$}", "frame", w = SHEET_NAME + 1), t.dim())];
    for f in 1..=10u8 {
        let w = if f == 10 { 6 } else { 5 };
        let style = if f == current && !over { t.title().add_modifier(Modifier::REVERSED) } else { Style::new() };
        head.push(Span::styled(format!("{f:^w$}"), style));
    }
    let mut lines = vec![Line::from(head)];
    let rows = usize::from(area.height.saturating_sub(3)).max(1);
    let first = (up + 1).saturating_sub(rows);
    for (i, bowler) in alley.bowlers().iter().enumerate().skip(first).take(rows) {
        let card = bowler.scorecard();
        let is_up = i == up && !over;
        let name: String = bowler.name().chars().take(SHEET_NAME).collect();
        let marker = if is_up { ">" } else { " " };
        let style = if is_up { t.title() } else { Style::new() };
        let mut spans = vec![Span::styled(format!("{marker}{name:<SHEET_NAME$}"), style)];
        for f in 1..=10u8 {
            let w = if f == 10 { 6 } else { 5 };
            spans.push(Span::raw(format!("{:^w$}", card.marks(f))));
        }
        spans.push(Span::styled(format!("{:>4}", card.total()), style));
        lines.push(Line::from(spans));
    }
    let bowler = &alley.bowlers()[up.min(alley.bowlers().len() - 1)];
    let title = Line::from(vec![
        Span::styled(format!(" {}  {} ", bowler.name(), bowler.scorecard().total()), t.title()),
        Span::styled(setup_text(alley), t.dim()),
    ]);
    frame.render_widget(Paragraph::new(lines).block(block(title, app)), area);
}

/// A count in a sheet cell's four characters (cells are five wide, so neighbours stay apart):
/// a stadium strike displaces 120,000 pods, `120k`; a game of them over a million, `1.1M`.
fn sheet_count(n: u64) -> String {
    match n {
        0..10_000 => n.to_string(),
        10_000..1_000_000 => format!("{}k", n / 1000),
        1_000_000..9_950_000 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{}M", n / 1_000_000),
    }
}

/// Milliseconds as seconds in a sheet cell's four characters: a tenth below 100 s.
fn sheet_seconds(ms: u64) -> String {
    let seconds = ms as f64 / 1000.0;
    if seconds < 99.95 { format!("{seconds:.1}") } else { format!("{seconds:.0}") }
}

/// The cluster's sheet for the same frames: one column per frame, as the bowling sheet.
fn cluster_sheet(frame: &mut Frame, app: &App, cluster: Rect, current: u8) {
    let t = &app.theme;
    let world = &app.driver.world;
    let reports = world.frame_reports();
    let cell = |f: usize, text: &dyn Fn(&crate::world::FrameReport) -> String| {
        let w = if f == 10 { 6 } else { 5 };
        let value = if f <= reports.len() && f <= usize::from(current) { text(&reports[f - 1]) } else { String::new() };
        format!("{value:^w$}")
    };
    type Row<'a> = (&'a str, Box<dyn Fn(&crate::world::FrameReport) -> String>);
    let rows: [Row; 4] = [
        ("displaced   ", Box::new(|r| sheet_count(r.displaced))),
        ("recovery s  ", Box::new(|r| r.recovery_max_ms.map_or("-".into(), sheet_seconds))),
        ("avail %     ", Box::new(|r| format!("{:.0}", r.mean_availability() * 100.0))),
        ("max pend s  ", Box::new(|r| sheet_seconds(r.longest_pending_ms))),
    ];
    let mut header = vec![Span::styled("frame       ", t.dim())];
    for f in 1..=10usize {
        let w = if f == 10 { 6 } else { 5 };
        header.push(Span::styled(format!("{f:^w$}"), t.dim()));
    }
    let mut lines = vec![Line::from(header)];
    for (label, text) in rows.iter().take(usize::from(cluster.height.saturating_sub(3))) {
        let mut spans = vec![Span::styled(*label, t.dim())];
        for f in 1..=10usize {
            spans.push(Span::raw(cell(f, text.as_ref())));
        }
        lines.push(Line::from(spans));
    }
    // Below the frames, a row per failure kind that happened, as long as the sheet has room.
    let room = usize::from(cluster.height.saturating_sub(3)).saturating_sub(rows.len());
    for (label, effects) in failure_effects(world).into_iter().take(room) {
        lines.push(Line::from(vec![Span::styled(format!("{label:<12}"), t.dim()), Span::raw(effects)]));
    }
    frame.render_widget(
        Paragraph::new(lines).block(block(
            match stuck_by_storage(app) {
                0 => " cluster sheet: the same frames, for the pods ".to_string(),
                stuck => format!(" cluster sheet: the same frames, for the pods · stuck by storage {stuck} "),
            },
            app,
        )),
        cluster,
    );
}

/// What each failure kind did this game, a row per kind that happened: the pods it displaced
/// (or its kubelet evicted), a partition's duplicates and how many its kubelet killed on
/// return, and the slowest replacement.
fn failure_effects(world: &crate::world::World) -> Vec<(&'static str, String)> {
    use crate::cluster::Failure;
    let rows = world.metrics().by_failure.iter().map(|(failure, e)| {
        let displaced = match failure {
            Failure::Pressure => format!("{} evicted by the kubelet", sheet_count(e.displaced)),
            _ => format!("{} displaced", sheet_count(e.displaced)),
        };
        let duplicates = match failure {
            Failure::Partition => {
                let (peak, killed) = (sheet_count(e.duplicates_peak), sheet_count(e.duplicates_killed));
                format!(" · {peak} duplicates, {killed} killed on return")
            }
            _ => String::new(),
        };
        let recovery = match e.recovered {
            0 => "-".to_string(),
            _ => format!("{:.1} s", e.recovery_max_ms as f64 / 1000.0),
        };
        (failure.name(), format!("{displaced}{duplicates} · slowest recovery {recovery}"))
    });
    rows.collect()
}

fn hint_bar(frame: &mut Frame, app: &App, area: Rect) {
    if let Some(following) = &app.following {
        return follow_bar(frame, app, following, area);
    }
    let t = &app.theme;
    let phase = app.driver.world.alley().phase();
    let action = match phase {
        Phase::Aiming => "power",
        Phase::Power => "RELEASE!",
        Phase::GameOver => "-",
        _ => "(rolling)",
    };
    let keys = [
        ("←→", "position"),
        ("↑↓", "aim"),
        ("[]", "hook"),
        ("space", action),
        ("1-0", "knock pin"),
        ("k", "leader"),
        ("u", "restore"),
        ("r", "reset"),
        ("tab", "select"),
        ("d", "describe"),
        ("s", "scheduler"),
        ("+-", "speed"),
        ("p", "pause"),
        ("?", "help"),
        ("q", "quit"),
    ];
    // On the heat map the arrows, enter and d are the map's: say so instead of the lane's keys.
    let heat_keys = [
        ("h", "lane"),
        ("arrows", "cursor"),
        ("enter", "zoom rack"),
        ("d", "describe node"),
        ("esc", "back"),
        ("1-0", "knock rack"),
        ("space", action),
        ("r", "reset"),
        ("+-", "speed"),
        ("p", "pause"),
        (":", "resources"),
        ("?", "help"),
        ("q", "quit"),
    ];
    let mut spans = Vec::new();
    let racked = app.driver.world.racks().is_some();
    let heat_key = racked.then_some(("h", "heat map"));
    let all: Vec<(&str, &str)> = if app.heat.open {
        heat_keys.to_vec()
    } else {
        heat_key
            .into_iter()
            .chain(keys.map(|(k, what)| (k, if racked && k == "1-0" { "knock rack" } else { what })))
            .collect()
    };
    for (k, what) in all {
        spans.push(Span::styled(format!(" {k} "), t.title()));
        spans.push(Span::styled(format!("{what} "), t.dim()));
    }
    if let Some((msg, until)) = &app.message
        && *until > std::time::Instant::now()
    {
        spans = vec![Span::styled(format!(" {msg}"), t.warn())];
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A followed session's bar: where it is (the progress line, for a replay) and the keys that
/// work on a read-only screen.
fn follow_bar(frame: &mut Frame, app: &App, following: &super::Following, area: Rect) {
    let t = &app.theme;
    let world = &app.driver.world;
    let now = crate::follow::tick_of(world);
    let total = following.follower.reached();
    let finished = following.follower.finished(world);
    let mut spans = vec![Span::styled(format!(" {} ", following.label()), t.warn().add_modifier(Modifier::REVERSED))];
    let keys: &[(&str, &str)] = if following.is_replay() {
        let state = if finished {
            "ended"
        } else if app.driver.paused {
            "paused"
        } else {
            "playing"
        };
        let percent = (now * 100).checked_div(total).unwrap_or(100);
        let alley = world.alley();
        spans.push(Span::raw(format!(
            " {state} {}×  tick {now} / {total} ({percent}%)  frame {} of 10  ",
            app.driver.speed,
            alley.frame()
        )));
        &[
            ("space", "pause"),
            ("←→", "frame"),
            ("home end", "seek"),
            ("+-", "speed"),
            ("tab", "select"),
            ("d", "describe"),
            ("?", "help"),
            ("q", "quit"),
        ]
    } else {
        let state = match (finished, following.follower.ended()) {
            (true, _) => "ended".to_string(),
            (false, true) => format!("ending: catching up, tick {now} of {total}"),
            (false, false) if total > now + 1 => format!("catching up: tick {now} of {total}"),
            (false, false) => "live".to_string(),
        };
        spans.push(Span::raw(format!(" {state}  frame {} of 10  ", world.alley().frame())));
        match &following.seat {
            Some(seat) => {
                let alley = world.alley();
                let up = alley.bowlers().get(usize::from(alley.bowler_up())).map_or("", |b| b.name());
                match alley.phase() {
                    Phase::GameOver => {}
                    _ if alley.bowler_up() == seat.bowler => {
                        spans.push(Span::styled(" your turn ", t.good().add_modifier(Modifier::REVERSED)));
                    }
                    _ => spans.push(Span::styled(format!("{up} is up "), t.dim())),
                }
                let power = if alley.phase() == Phase::Power { "RELEASE!" } else { "power" };
                let keys =
                    [("←→", "position"), ("↑↓", "aim"), ("[]", "hook"), ("space", power), ("?", "help"), ("q", "quit")];
                for (k, what) in keys {
                    spans.push(Span::styled(format!(" {k} "), t.title()));
                    spans.push(Span::styled(format!("{what} "), t.dim()));
                }
                &[]
            }
            None => &[("tab", "select"), ("d", "describe"), ("?", "help"), ("q", "quit")],
        }
    };
    for (k, what) in keys {
        spans.push(Span::styled(format!(" {k} "), t.title()));
        spans.push(Span::styled(format!("{what} "), t.dim()));
    }
    if let Some((msg, until)) = &app.message
        && *until > std::time::Instant::now()
    {
        spans.truncate(2);
        spans.push(Span::styled(format!(" {msg}"), t.warn()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width.saturating_sub(4));
    let h = height.min(area.height.saturating_sub(2));
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

fn overlay(frame: &mut Frame, app: &App, area: Rect, title: String, lines: Vec<Line>) {
    let height = lines.len() as u16 + 2;
    let width = lines.iter().map(|l| l.width() as u16).max().unwrap_or(20).max(title.len() as u16 + 4) + 4;
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    let b =
        block(Line::styled(title, app.theme.title()), app).title_bottom(Line::styled(" esc closes ", app.theme.dim()));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(b), rect);
}

fn help(frame: &mut Frame, app: &App, area: Rect) {
    if let Some(following) = &app.following {
        return follow_help(frame, app, following, area);
    }
    let t = &app.theme;
    let policies: Vec<&str> = crate::cluster::scheduler::POLICIES.iter().map(|e| e.name).collect();
    let policies = format!("scheduler policy: {}", policies.join(" → "));
    let rows: [(&str, &str); 28] = [
        ("←  →", "move the ball's start position one board"),
        ("↑  ↓", "aim: angle the launch right / left"),
        ("[  ]", "hook: curve left / right on the dry back end"),
        ("space", "start the power meter, press again to release"),
        ("1 … 9, 0", "knock pin 1 … 10 over (its node stops heartbeating; past ten nodes, its whole rack)"),
        ("shift-1 … 0", "partition the pin: heartbeats cut, its pods run on and are killed when it stands again"),
        ("alt-1 … 0", "memory pressure: the pin wobbles, its kubelet evicts BestEffort then Burstable pods"),
        ("h", "heat map of every node (past ten nodes): arrows cursor · enter zoom a rack · d describe · esc"),
        ("u", "restore the selected pin (its kubelet comes back)"),
        ("k  K", "knock the pinsetter: its leading scheduler and controller manager crash / K restarts them"),
        ("r", "reset the rack: every pin stands, every node rejoins"),
        ("tab  shift-tab", "select the next / previous pin or pending pod"),
        ("d  enter", "describe the selection: conditions, taints, why each pod is here"),
        ("c", "cordon / uncordon the selected pin (spec.unschedulable)"),
        ("+  -", "game speed ¼× … 16×"),
        ("t", "timing preset: arcade (seconds) ⇄ kubernetes (upstream defaults)"),
        ("s", &policies),
        ("p", "pause"),
        ("n", "new game (after the tenth frame, or any time)"),
        (":", "command bar: :pods :nodes :deploy :svc :ev … any kind, short name or CRD; tab completes; :q quits"),
        ("table", "j k ↑↓ move · pgup pgdn g G · shift+letter sorts (header) · / filter (text, or -l k=v)"),
        ("", "y yaml · d describe · l pod log · esc back (clears a filter first); game keys wait"),
        ("?", "this help"),
        ("esc", "close an overlay"),
        ("q  ctrl-c", "quit"),
        ("", ""),
        ("cards", "● Ready  ◌ NotReady  ✖ down (the pin fell; the API finds out later)"),
        ("pods", "■ Running  ◇ ContainerCreating  □ Pending  × Terminating; colour = deployment"),
    ];
    let lines = rows
        .iter()
        .map(|(k, v)| Line::from(vec![Span::styled(format!("{k:>16}  "), t.title()), Span::raw(*v)]))
        .collect();
    overlay(frame, app, area, " help ".into(), lines);
}

fn follow_help(frame: &mut Frame, app: &App, following: &super::Following, area: Rect) {
    let t = &app.theme;
    let mut rows: Vec<(&str, &str)> = Vec::new();
    if following.is_replay() {
        rows.extend([
            ("space  p", "pause / play"),
            ("←  →", "seek to the previous / next bowling frame"),
            ("home  end", "seek to the start / the end"),
            ("+  -", "replay speed ¼× … 16×"),
        ]);
    }
    rows.extend([
        ("tab  shift-tab", "select the next / previous pin or pending pod"),
        ("d  enter", "describe the selection: conditions, taints, why each pod is here"),
        ("?", "this help"),
        ("esc", "close an overlay"),
        ("q  esc  ctrl-c", "quit"),
        ("", ""),
    ]);
    if let Some(seat) = &following.seat {
        let bowling: [(&str, &str); 5] = [
            ("←  →", "move your start position (on your turn)"),
            ("↑  ↓", "aim"),
            ("[  ]", "hook"),
            ("space", "start the power meter, then release"),
            ("", "the chaos and cluster keys are the host's"),
        ];
        rows.splice(0..0, bowling);
        rows.push(("", "you bowl as"));
        rows.push(("", seat.name.as_str()));
    } else {
        rows.push(("", "read only: this screen follows the game, it does not play it"));
    }
    let lines = rows
        .iter()
        .map(|(k, v)| Line::from(vec![Span::styled(format!("{k:>16}  "), t.title()), Span::raw(*v)]))
        .collect();
    overlay(frame, app, area, format!(" help: {} {} ", following.label().to_lowercase(), following.source), lines);
}

fn describe(frame: &mut Frame, app: &App, area: Rect) {
    let lines = match &app.selection {
        Selection::Pin(pin) => describe_node(app, *pin),
        Selection::Pod(key) => describe_pod(app, key),
    };
    let title = match &app.selection {
        Selection::Pin(pin) => format!(
            " describe node {} ",
            app.driver.world.pins().get(usize::from(*pin) - 1).cloned().unwrap_or_default()
        ),
        Selection::Pod(key) => format!(" describe pod {} ", key.name),
    };
    overlay(frame, app, area, title, lines);
}

fn describe_node(app: &App, pin: u8) -> Vec<Line<'static>> {
    match app.driver.world.pins().get(usize::from(pin) - 1) {
        Some(name) => describe_node_named(app, name),
        None => vec![],
    }
}

pub(super) fn describe_node_named(app: &App, name: &str) -> Vec<Line<'static>> {
    let t = &app.theme;
    let world = &app.driver.world;
    let cluster = world.cluster();
    let Some(node) = cluster_store(app).get::<Node>(&ObjectKey::cluster(name)) else { return vec![] };
    let epoch = cluster.store.epoch();
    let pin = world.pins().iter().position(|p| p == name).map_or_else(|| "-".to_string(), |i| (i + 1).to_string());
    let mut lines = vec![Line::from(vec![
        Span::styled("Pin:         ", t.title()),
        Span::raw(format!(
            "{pin} ({})",
            if cluster.is_knocked(name) { "knocked down: kubelet silent" } else { "standing" }
        )),
    ])];
    for c in &node.status.conditions {
        lines.push(Line::from(vec![
            Span::styled("Condition:   ", t.title()),
            Span::raw(format!(
                "{} = {}  {}  {}  (heartbeat {}, transition {})",
                c.type_,
                c.status,
                c.reason,
                c.message,
                c.last_heartbeat_time.as_deref().and_then(|t| epoch.parse(t)).map_or("-".into(), |m| m.to_string()),
                c.last_transition_time.as_deref().and_then(|t| epoch.parse(t)).map_or("-".into(), |m| m.to_string()),
            )),
        ]));
    }
    let taints = if node.spec.taints.is_empty() {
        "<none>".to_string()
    } else {
        node.spec.taints.iter().map(|t| format!("{}:{}", t.key, t.effect)).collect::<Vec<_>>().join("  ")
    };
    lines.push(Line::from(vec![Span::styled("Taints:      ", t.title()), Span::raw(taints)]));
    lines.push(Line::from(vec![
        Span::styled("Unschedulable:", t.title()),
        Span::raw(format!(" {}", node.spec.unschedulable)),
    ]));
    let pods: Vec<&Pod> = cluster_store(app).pods_on_node(name).collect();
    let active: Vec<&&Pod> = pods.iter().filter(|p| p.is_active()).collect();
    let cpu: i64 = active.iter().map(|p| p.requests().cpu_milli).sum();
    let mem: i64 = active.iter().map(|p| p.requests().memory_milli).sum();
    lines.push(Line::from(vec![
        Span::styled("Allocated:   ", t.title()),
        Span::raw(format!(
            "cpu {}m / {}m ({:.0}%)   memory {}Mi / {}Mi ({:.0}%)   pods {} / {}",
            cpu,
            node.allocatable("cpu"),
            100.0 * cpu as f64 / node.allocatable("cpu").max(1) as f64,
            (mem / 1000) >> 20,
            (node.allocatable("memory") / 1000) >> 20,
            100.0 * mem as f64 / node.allocatable("memory").max(1) as f64,
            active.len(),
            node.allocatable("pods") / 1000
        )),
    ]));
    describe_local_volumes(app, node, &mut lines);
    lines.push(Line::styled(format!("Pods ({}):  and why each landed here", pods.len()), t.title()));
    for pod in pods.iter().take(18) {
        let r = pod.requests();
        let why = cluster
            .scheduler
            .decision(pod)
            .map_or("bound before this session's records".into(), |d| why_here(&d, name));
        lines.push(Line::from(vec![
            Span::styled(format!("  {} ", app.theme.pod_glyph(pod.state())), t.deployment(app.deployment_index(pod))),
            Span::raw(format!(
                "{:<26} {:>5}m {:>5}Mi {:<17} ",
                pod.metadata.name,
                r.cpu_milli,
                (r.memory_milli / 1000) >> 20,
                pod.state().as_str()
            )),
            Span::styled(truncate(&why, 90), t.dim()),
        ]));
    }
    if pods.len() > 18 {
        lines.push(Line::styled(format!("  … and {} more", pods.len() - 18), t.dim()));
    }
    lines
}

/// One line on why a pod is on `node`: its scores against the best elsewhere for the scoring
/// policies, the pins skipped for first fit, the policy's own words otherwise.
fn why_here(d: &Decision, node: &str) -> String {
    if let Some(here) = d.scores.iter().find(|s| s.node == node) {
        let best_elsewhere = d.scores.iter().filter(|s| s.node != node).map(|s| s.total).max();
        return format!(
            "{}: {} = {}{}",
            d.policy,
            plugin_scores(here),
            here.total,
            best_elsewhere.map_or(" (the only pin that fits)".into(), |b| format!("; best elsewhere {b}"))
        );
    }
    if d.policy != "greedy" || d.verdicts.is_empty() {
        return d.message.clone();
    }
    let skipped: Vec<String> = d
        .verdicts
        .iter()
        .take_while(|(n, _)| n != node)
        .filter_map(|(n, v)| match v {
            Verdict::Unfit { reasons, .. } => Some(format!("{n}: {}", short_reason(&reasons.join(", ")))),
            Verdict::Fit => None,
        })
        .collect();
    if skipped.is_empty() {
        "first fit: the first pin in rack order that passes every filter".to_string()
    } else {
        format!("first fit; skipped {}", skipped.join("; "))
    }
}

/// `LeastAllocated 87 + BalancedAllocation 93` (weights shown when not 1).
fn plugin_scores(score: &NodeScore) -> String {
    score
        .plugins
        .iter()
        .map(|p| {
            if p.weight == 1 {
                format!("{} {}", p.plugin, p.score)
            } else {
                format!("{}×{} {}", p.weight, p.plugin, p.score)
            }
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

pub(super) fn describe_pod(app: &App, key: &ObjectKey) -> Vec<Line<'static>> {
    let t = &app.theme;
    let cluster = app.driver.world.cluster();
    let Some(pod) = cluster_store(app).get::<Pod>(key) else { return vec![Line::from("this pod no longer exists")] };
    let r = pod.requests();
    let mut lines = vec![
        Line::from(vec![Span::styled("Status:    ", t.title()), Span::raw(pod.state().as_str().to_string())]),
        Line::from(vec![
            Span::styled("Node:      ", t.title()),
            Span::raw(pod.node_name().unwrap_or("<none>").to_string()),
        ]),
        Line::from(vec![
            Span::styled("Requests:  ", t.title()),
            Span::raw(format!(
                "cpu {}m  memory {}Mi  priority {}",
                r.cpu_milli,
                (r.memory_milli / 1000) >> 20,
                pod.priority()
            )),
        ]),
        Line::from(vec![
            Span::styled("Owner:     ", t.title()),
            Span::raw(pod.metadata.controller().map_or("<none>".into(), |o| format!("{}/{}", o.kind, o.name))),
        ]),
    ];
    if let Some(budget) = crate::cluster::controllers::disruption::budget_covering(&cluster.store, pod) {
        let st = &budget.status;
        let allowed = st.disruptions_allowed;
        lines.push(Line::from(vec![
            Span::styled("PDB:       ", t.title()),
            Span::styled(
                format!(
                    "{} (allowed disruptions {allowed}: needs {} healthy, has {})",
                    budget.metadata.name, st.desired_healthy, st.current_healthy
                ),
                if allowed > 0 { Style::new() } else { t.warn() },
            ),
        ]));
    }
    if let Some([why, then]) = waiting_for_its_pin(app, pod) {
        lines.push(Line::from(vec![Span::styled("Waiting:   ", t.title()), Span::styled(why, t.warn())]));
        lines.push(Line::from(vec![Span::raw("           "), Span::styled(then, t.warn())]));
    }
    describe_volumes(app, pod, &mut lines);
    match cluster.scheduler.decision(pod) {
        Some(d) => {
            lines.push(Line::styled(format!("Scheduler ({} policy, at {}):", d.policy, d.at), t.title()));
            lines.push(Line::from(Span::styled(
                format!("  {}", d.message),
                if d.node.is_none() { t.warn() } else { t.good() },
            )));
            if let Some(node) = &d.nominated {
                lines.push(Line::from(Span::styled(
                    format!("  nominated to {node}: lower-priority pods there are being preempted; it binds once they are gone"),
                    t.warn(),
                )));
            }
            for (node, verdict) in &d.verdicts {
                let (mark, text, style) = match verdict {
                    Verdict::Fit if d.node.as_deref() == Some(node) => ("→", "fits: chosen".to_string(), t.good()),
                    Verdict::Fit => ("·", "fits".to_string(), Style::new()),
                    Verdict::Unfit { plugin, reasons } => ("✗", format!("{plugin}: {}", reasons.join(", ")), t.dim()),
                };
                let mut spans = vec![
                    Span::styled(format!("  {mark} {node:<8} "), style),
                    Span::styled(format!("{text:<14}"), style),
                ];
                if let Some(score) = d.scores.iter().find(|s| s.node == *node) {
                    spans.push(Span::styled(format!("  {} = {}", plugin_scores(score), score.total), style));
                }
                lines.push(Line::from(spans));
            }
        }
        None => lines.push(Line::styled("No scheduling decision recorded yet.", t.dim())),
    }
    lines.extend(super::resources::describe_events(app, "Pod", &key.namespace, &key.name));
    lines
}

/// Why a pod can't run until a pin returns: its data is on a local volume only down pins reach.
fn waiting_for_its_pin(app: &App, pod: &Pod) -> Option<[String; 2]> {
    use crate::cluster::controllers::persistent_volume::reachable_by_a_ready_node;
    let store = cluster_store(app);
    let state = pod.state();
    if state == PodState::Running {
        return None;
    }
    let (claim, pv) = local_volume_of(store, pod)?;
    if reachable_by_a_ready_node(store, pv) {
        return None;
    }
    let pins: Vec<&str> = store
        .list::<Node>()
        .filter(|n| pv.reachable_from(&n.metadata.name, &n.metadata.labels))
        .map(|n| n.metadata.name.as_str())
        .collect();
    let pins = pins.join(",");
    let name = &pod.metadata.name;
    let why =
        format!("for {pins}: its data (claim {claim} → {}) is only on {pins}, which is not Ready", pv.metadata.name);
    let then = match state {
        PodState::Terminating => {
            format!(
                "as upstream: Terminating until {pins}'s kubelet confirms it (or --force); no second {name} meanwhile"
            )
        }
        _ => "the VolumeBinding filter refuses every other node: volume node affinity conflict".to_string(),
    };
    Some([why, then])
}

/// A pin or rack card's border: a hit flashes, then the selection, then a fallen pin.
fn card_border(t: &super::theme::Theme, hit: bool, selected: bool, down: bool) -> Style {
    if hit {
        t.flash()
    } else if selected {
        t.title()
    } else if down {
        t.bad()
    } else {
        t.dim()
    }
}

/// A pod's cell on a pin card: its state, except that a running pod with volumes shows them
/// (`▤`), and one whose claim is bound to a volume only this pin reaches shows it is held here
/// (`▣`): knock the pin and that pod cannot move. On a knocked pin that pod stays `▣` among the
/// `×` of the pods being replaced elsewhere: it waits for its pin.
fn pod_card_glyph(app: &App, pod: &Pod, state: PodState) -> &'static str {
    let may_be_held = matches!(state, PodState::Running | PodState::Terminating);
    if !may_be_held || pod.spec.volumes.is_empty() {
        return app.theme.pod_glyph(state);
    }
    let held = local_volume_of(cluster_store(app), pod).is_some();
    match (held, state, app.theme.unicode) {
        (true, _, true) => "▣",
        (true, _, false) => "@",
        (false, PodState::Running, true) => "▤",
        (false, PodState::Running, false) => "%",
        (false, _, _) => app.theme.pod_glyph(state),
    }
}

/// `Volumes:` lines for describe pod: each volume's source, and for a claim its volume, phase
/// and the node the volume is tied to.
fn describe_volumes(app: &App, pod: &Pod, lines: &mut Vec<Line<'static>>) {
    use crate::cluster::objects::{PersistentVolume, PersistentVolumeClaim};
    let t = &app.theme;
    let store = cluster_store(app);
    if pod.spec.volumes.is_empty() {
        return;
    }
    lines.push(Line::styled("Volumes:", t.title()));
    for v in &pod.spec.volumes {
        let (text, warn) = if let Some(c) = &v.persistent_volume_claim {
            let key = ObjectKey::new(pod.metadata.namespace(), &c.claim_name);
            match store.get::<PersistentVolumeClaim>(&key) {
                None => (format!("PersistentVolumeClaim {} (not found)", c.claim_name), true),
                Some(pvc) if pvc.spec.volume_name.is_empty() => {
                    (format!("PersistentVolumeClaim {} ({}, no volume yet)", c.claim_name, pvc.status.phase), true)
                }
                Some(pvc) => {
                    let pv = store.get::<PersistentVolume>(&ObjectKey::cluster(&pvc.spec.volume_name));
                    let node = pv.and_then(|pv| pv.required_nodes()).map(|s| {
                        let values = s.node_selector_terms.iter().flat_map(|term| &term.match_expressions);
                        let nodes: Vec<&str> = values.flat_map(|r| r.values.iter().map(String::as_str)).collect();
                        format!(", only on {}", nodes.join(","))
                    });
                    let text = format!(
                        "PersistentVolumeClaim {} ({}) → PV {}{}",
                        c.claim_name,
                        pvc.status.phase,
                        pvc.spec.volume_name,
                        node.unwrap_or_default()
                    );
                    (text, false)
                }
            }
        } else if let Some(c) = &v.config_map {
            (format!("ConfigMap {}{}", c.name, if c.optional == Some(true) { " (optional)" } else { "" }), false)
        } else if let Some(s) = &v.secret {
            (format!("Secret {}{}", s.secret_name, if s.optional == Some(true) { " (optional)" } else { "" }), false)
        } else if v.projected.is_some() {
            ("Projected".to_string(), false)
        } else {
            (v.source.keys().next().cloned().unwrap_or_default(), false)
        };
        lines.push(Line::from(vec![
            Span::raw(format!("  {:<10} ", v.name)),
            Span::styled(text, if warn { t.warn() } else { Style::new() }),
        ]));
    }
}

/// `Local volumes:` for describe node: the PersistentVolumes only this pin reaches, and the claim
/// each is bound to (the pod using it cannot run anywhere else).
fn describe_local_volumes(app: &App, node: &Node, lines: &mut Vec<Line<'static>>) {
    use crate::cluster::objects::PersistentVolume;
    let t = &app.theme;
    let store = cluster_store(app);
    let local: Vec<&PersistentVolume> = store
        .list::<PersistentVolume>()
        .filter(|pv| pv.required_nodes().is_some_and(|s| s.matches(&node.metadata.name, &node.metadata.labels)))
        .collect();
    if local.is_empty() {
        return;
    }
    lines.push(Line::styled("Local volumes:", t.title()));
    for pv in local {
        let claim = pv
            .spec
            .claim_ref
            .as_ref()
            .map_or("unclaimed".to_string(), |c| format!("claimed by {}/{}", c.namespace, c.name));
        lines.push(Line::raw(format!("  {:<14} {:<10} {claim}", pv.metadata.name, pv.status.phase)));
    }
}

/// Pods Pending because no pin passes the VolumeBinding filter: their data is out of reach.
fn stuck_by_storage(app: &App) -> usize {
    let cluster = app.driver.world.cluster();
    cluster
        .store
        .pending_pods_with_volumes()
        .filter(|p| {
            cluster.scheduler.decision(p).is_some_and(|d| {
                d.node.is_none()
                    && d.verdicts
                        .iter()
                        .any(|(_, v)| matches!(v, Verdict::Unfit { plugin, .. } if *plugin == "VolumeBinding"))
            })
        })
        .count()
}

/// "Final score: N", or with several bowlers each one's.
fn final_scores(alley: &crate::alley::Alley) -> String {
    match alley.bowlers() {
        [one] => format!("Final score: {}", one.scorecard().total()),
        many => {
            let scores: Vec<String> = many.iter().map(|b| format!("{} {}", b.name(), b.scorecard().total())).collect();
            format!("Final scores: {}", scores.join(" · "))
        }
    }
}

fn game_over(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let world = &app.driver.world;
    let metrics = world.metrics();
    let mut lines = vec![
        Line::styled(final_scores(world.alley()), t.title()),
        Line::default(),
        Line::styled("The cluster's game:", t.title()),
        Line::from(format!(
            "  pods displaced {}   evicted {}   rescheduled {}",
            metrics.displaced, metrics.evicted, metrics.rescheduled
        )),
        Line::from(format!(
            "  recovery p50 {:.1}s  max {:.1}s   longest pending {:.1}s",
            crate::sim::Percentiles::of(&metrics.recovery_ms).p50 as f64 / 1000.0,
            crate::sim::Percentiles::of(&metrics.recovery_ms).max as f64 / 1000.0,
            metrics.longest_pending_ms as f64 / 1000.0
        )),
    ];
    for (name, a) in metrics.availability() {
        lines.push(Line::from(format!("  availability {name:<10} {:.1}%", a * 100.0)));
    }
    lines.push(Line::default());
    lines.push(Line::styled("High scores:", t.title()));
    for (i, s) in app.high_scores.iter().take(5).enumerate() {
        lines.push(Line::from(format!("  {}. {:>3}  seed {}", i + 1, s.score, s.seed)));
    }
    lines.push(Line::default());
    lines.push(Line::styled("n: new game   q: quit", t.warn()));
    overlay(frame, app, area, " game over ".into(), lines);
}

/// A followed session's end, over its last frame: the score and whether the replica's history
/// is the session's.
fn ended(frame: &mut Frame, app: &App, area: Rect) {
    use crate::follow::DigestCheck;
    let t = &app.theme;
    let Some(following) = &app.following else { return };
    let world = &app.driver.world;
    let whose = if following.is_replay() { "the recording" } else { "the game followed" };
    let check = match app.digest_check() {
        Some(DigestCheck::Matches) => Line::styled(format!("digest matches {whose}"), t.good()),
        Some(DigestCheck::Differs { recorded, replayed }) => Line::styled(
            format!(
                "digest DIFFERS from {whose}: recorded {}, replayed {}",
                truncate(&recorded, 12),
                truncate(&replayed, 12)
            ),
            t.bad(),
        ),
        Some(DigestCheck::Unknown) => Line::styled("the source went away before its end: no digest to check", t.warn()),
        None => Line::from("not at the end"),
    };
    let mut lines = vec![
        Line::styled(final_scores(world.alley()), t.title()),
        Line::from(format!("frame {} of 10, at {}", world.alley().frame(), world.now())),
        Line::default(),
        check,
        Line::styled(format!("  {}", world.digest()), t.dim()),
    ];
    if following.follower.refused() > 0 {
        lines.push(Line::styled(
            format!("{} inputs refused, as they were in the session", following.follower.refused()),
            t.dim(),
        ));
    }
    lines.push(Line::default());
    let keys = if following.is_replay() {
        "home: watch again   esc: stay on the last frame   q: quit"
    } else {
        "esc: stay on the last frame   q: quit"
    };
    lines.push(Line::styled(keys, t.warn()));
    let title = if following.is_replay() { " replay ended " } else { " the game ended " };
    overlay(frame, app, area, title.into(), lines);
}

pub fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(width.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sheet cells are five wide: every value fits in four, so neighbours never run together.
    #[test]
    fn sheet_cells_fit_four_characters() {
        let counts = [
            (0, "0"),
            (9_999, "9999"),
            (37_012, "37k"),
            (120_011, "120k"),
            (999_999, "999k"),
            (1_105_166, "1.1M"),
            (9_949_999, "9.9M"),
            (12_000_000, "12M"),
        ];
        for (n, text) in counts {
            assert_eq!(sheet_count(n), text);
        }
        let seconds =
            [(1_500, "1.5"), (31_200, "31.2"), (99_940, "99.9"), (99_950, "100"), (131_200, "131"), (999_000, "999")];
        for (ms, text) in seconds {
            assert_eq!(sheet_seconds(ms), text);
        }
    }
}
