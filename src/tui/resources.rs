//! k9s-style resource views: `:` opens a command bar naming a resource (`:pods`, `:deploy`,
//! `:rolls`), which opens a table of it with `kubectl get`'s columns; `/` filters, shift+letter
//! sorts, `y` `d` `l` show the selection's YAML, description and log; `esc` steps back.
//!
//! The commands come from the kinds table (plurals, singulars, short names, kind names) and the
//! established CRDs in the store, plus k9s' own few aliases, so a new kind is a command without
//! an edit here. Rows are printed by the API's Table printers ([`Object::cells`],
//! [`crate::api::crd::cells`]), so the table and `kubectl get` agree.
//!
//! Scale: the rows are cached per object and updated from the store's change log (only the
//! objects that changed are printed again); the filtered, sorted index is rebuilt at most once a
//! second of game time while the viewed kind changes (k9s refreshes every 2 s), and a frame
//! prints only the visible rows, fresh from the store (so ages are current).

use super::App;
use super::view::{truncate, why_waiting};
use crate::api::crd::CustomInfo;
use crate::api::select::LabelSelector;
use crate::clock::{Millis, Reading};
use crate::cluster::objects::{CustomObject, CustomResourceDefinition, Event, Kind, Object, Pod, Resource};
use crate::cluster::store::{ObjectKey, Store};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph, Row as TableRow, Table};
use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How often (game time) a changing table re-sorts and re-filters: k9s' refresh is 2 s.
const REFRESH: Millis = Millis(1_000);

/// k9s' own aliases beyond kubectl's short names, by the plural they name. A plural no kind or
/// CRD serves is skipped.
const K9S_ALIASES: [(&str, &str); 5] = [
    ("dp", "deployments"),
    ("sec", "secrets"),
    ("cr", "clusterroles"),
    ("crb", "clusterrolebindings"),
    ("rb", "rolebindings"),
];

/// What a table lists: a kind of the kinds table, or a CRD's resource.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    Builtin(Kind),
    Custom(&'static CustomInfo),
}

impl PartialEq for Target {
    fn eq(&self, other: &Target) -> bool {
        match (self, other) {
            (Target::Builtin(a), Target::Builtin(b)) => a == b,
            (Target::Custom(a), Target::Custom(b)) => a.resource == b.resource,
            _ => false,
        }
    }
}

impl Target {
    pub fn plural(&self) -> &'static str {
        match self {
            Target::Builtin(kind) => kind.plural(),
            Target::Custom(info) => info.info.plural,
        }
    }

    pub fn namespaced(&self) -> bool {
        match self {
            Target::Builtin(kind) => kind.namespaced(),
            Target::Custom(info) => info.info.namespaced,
        }
    }

    /// `(name, priority)` of each cell the printer fills, in order.
    fn printed_columns(&self) -> Vec<(String, u8)> {
        match self {
            Target::Builtin(kind) => kind.columns().iter().map(|(n, p)| (n.to_string(), *p)).collect(),
            Target::Custom(info) => crate::api::crd::column_definitions(info)
                .iter()
                .map(|c| {
                    let name = c["name"].as_str().unwrap_or_default().to_string();
                    (name, u8::try_from(c["priority"].as_u64().unwrap_or(0)).unwrap_or(1))
                })
                .collect(),
        }
    }

    /// The table's headers: `NAMESPACE` for a namespaced resource (every namespace is listed),
    /// then `kubectl get`'s priority-0 columns, upper-cased as kubectl prints them.
    pub fn headers(&self) -> Vec<String> {
        let mut headers = Vec::new();
        if self.namespaced() {
            headers.push("NAMESPACE".to_string());
        }
        headers.extend(self.printed_columns().into_iter().filter(|(_, p)| *p == 0).map(|(n, _)| n.to_uppercase()));
        headers
    }

    /// One row's cells under [`Target::headers`], from the API's Table printer.
    pub fn cells(&self, object: &Object, now: Reading) -> Vec<String> {
        let printed = match self {
            Target::Builtin(_) => object.cells(now),
            Target::Custom(info) => {
                crate::api::crd::cells(info, &serde_json::to_value(object).unwrap_or_default(), now)
            }
        };
        let mut cells = Vec::new();
        if self.namespaced() {
            cells.push(object.meta().namespace().to_string());
        }
        let priorities = self.printed_columns();
        cells.extend(
            printed.into_iter().zip(priorities).filter(|(_, (_, p))| *p == 0).map(|(value, _)| cell_text(value)),
        );
        cells
    }

    fn owns(&self, object: &Object) -> bool {
        match (self, object) {
            (Target::Custom(info), Object::CustomObject(o)) => o.resource.name == info.resource,
            (Target::Builtin(kind), o) => o.kind() == *kind,
            _ => false,
        }
    }

    fn store_kind(&self) -> Kind {
        match self {
            Target::Builtin(kind) => *kind,
            Target::Custom(_) => Kind::CustomObject,
        }
    }

    /// Every object listed, cloned (only when a table opens or the change log was outrun).
    fn load(&self, store: &Store) -> Vec<Object> {
        match self {
            Target::Builtin(kind) => kind.list(store),
            Target::Custom(info) => {
                store.range::<CustomObject>(CustomObject::range_of(&info.resource)).cloned().map(Object::from).collect()
            }
        }
    }

    pub fn get(&self, store: &Store, key: &ObjectKey) -> Option<Object> {
        self.store_kind().get(store, key)
    }
}

/// kubectl prints a Table cell's JSON value bare: strings unquoted, null as empty.
fn cell_text(value: serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The store key of an object (custom objects are keyed by their resource first).
fn store_key(object: &Object) -> ObjectKey {
    match object {
        Object::CustomObject(o) => o.key(),
        other => other.kind().key(other.meta().namespace.as_deref(), other.meta().name.clone()),
    }
}

/// Every name a command may use, each with what it opens, in name order.
pub fn commands(store: &Store) -> BTreeMap<String, Target> {
    let mut names = BTreeMap::new();
    let add = |names: &mut BTreeMap<String, Target>, name: &str, target: Target| {
        if !name.is_empty() {
            names.entry(name.to_lowercase()).or_insert(target);
        }
    };
    for kind in Kind::ALL.into_iter().filter(|k| !k.plural().is_empty()) {
        let target = Target::Builtin(kind);
        add(&mut names, kind.plural(), target);
        add(&mut names, kind.singular(), target);
        add(&mut names, kind.name(), target);
        for short in kind.short_names() {
            add(&mut names, short, target);
        }
    }
    for crd in store.list::<CustomResourceDefinition>() {
        let Some(info) = crate::api::crd::served(crd) else { continue };
        let target = Target::Custom(info);
        let names_of = &crd.spec.names;
        add(&mut names, &names_of.plural, target);
        add(&mut names, &crd.metadata.name, target);
        add(&mut names, &names_of.singular, target);
        add(&mut names, &names_of.kind, target);
        for short in &names_of.short_names {
            add(&mut names, short, target);
        }
    }
    for (alias, plural) in K9S_ALIASES {
        if let Some(target) = names.get(plural).copied() {
            add(&mut names, alias, target);
        }
    }
    names
}

/// What a command-bar line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Open(Target),
    Quit,
}

/// Resolves a command-bar line (`pods`, `:po`, `q`) against [`commands`].
pub fn resolve(line: &str, store: &Store) -> Result<Command, String> {
    let line = line.trim().trim_start_matches(':').trim();
    let mut words = line.split_whitespace();
    let Some(word) = words.next() else { return Err("type a resource (:pods, :nodes, :deploy …) or :q".into()) };
    if let Some(extra) = words.next() {
        return Err(format!("{word}: unexpected {extra:?}: a command is one resource name (filter with /)"));
    }
    let word = word.to_lowercase();
    if matches!(word.as_str(), "q" | "q!" | "quit" | "qa") {
        return Ok(Command::Quit);
    }
    commands(store).get(&word).map(|t| Command::Open(*t)).ok_or_else(|| {
        format!("unknown command {word:?}: no kind, short name or CRD of that name (tab completes; :q quits)")
    })
}

/// The command names starting with `prefix`, shortest first (then in name order), for `tab`.
pub fn completions(prefix: &str, store: &Store) -> Vec<String> {
    let prefix = prefix.trim().trim_start_matches(':').to_lowercase();
    let mut names: Vec<String> = commands(store).into_keys().filter(|n| n.starts_with(&prefix)).collect();
    names.extend(["quit".to_string()].into_iter().filter(|n| n.starts_with(&prefix) && !prefix.is_empty()));
    names.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    names
}

/// A table's filter: a substring of the row's text (any cell, case-insensitive, as k9s' filter
/// reads the row), or `-l` and a label selector in kubectl's syntax.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Text(String),
    Labels { source: String, selector: LabelSelector },
}

impl Filter {
    /// `pending`, `-l app=web,tier!=db`; an empty filter is none.
    pub fn parse(text: &str) -> Result<Option<Filter>, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        if let Some(selector) = text.strip_prefix("-l") {
            let selector = selector.trim();
            if selector.is_empty() {
                return Err("-l needs a label selector: -l app=web".into());
            }
            return LabelSelector::parse(selector)
                .map(|parsed| Some(Filter::Labels { source: selector.to_string(), selector: parsed }))
                .map_err(|e| e.message);
        }
        Ok(Some(Filter::Text(text.to_string())))
    }

    pub fn source(&self) -> String {
        match self {
            Filter::Text(text) => text.clone(),
            Filter::Labels { source, .. } => format!("-l {source}"),
        }
    }

    fn matches(&self, row: &Row, labels: Option<&BTreeMap<String, String>>) -> bool {
        match self {
            Filter::Text(needle) => row.cells.iter().any(|cell| contains_ignoring_case(cell, needle)),
            Filter::Labels { selector, .. } => labels.is_some_and(|labels| selector.matches(labels)),
        }
    }
}

fn contains_ignoring_case(haystack: &str, needle: &str) -> bool {
    let (hay, needle) = (haystack.as_bytes(), needle.as_bytes());
    needle.is_empty() || hay.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

/// One object's printed row, cached between changes to it.
#[derive(Debug)]
struct Row {
    key: ObjectKey,
    cells: Vec<String>,
    /// `metadata.creationTimestamp`: AGE sorts by it, not by the printed text.
    created: String,
}

/// Which column orders the table; none is the store's order (namespace, then name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub column: usize,
    pub descending: bool,
}

/// The shift+letter that sorts by each header: NAME `N` and AGE `A` first (as k9s), then each
/// column's first letter not yet taken. `G` is never one: it jumps to the bottom.
pub fn sort_letters(headers: &[String]) -> Vec<Option<char>> {
    let mut letters = vec![None; headers.len()];
    let mut taken: Vec<char> = vec!['G'];
    let first = headers.iter().position(|h| h == "NAME");
    let age = headers.iter().position(|h| h == "AGE");
    let order = first.into_iter().chain(age).chain((0..headers.len()).filter(|i| Some(*i) != first && Some(*i) != age));
    for i in order {
        let pick = headers[i]
            .chars()
            .filter(char::is_ascii_alphabetic)
            .map(|c| c.to_ascii_uppercase())
            .find(|c| !taken.contains(c));
        if let Some(letter) = pick {
            taken.push(letter);
            letters[i] = Some(letter);
        }
    }
    letters
}

/// Seconds in a kubectl age (`5m3s`, `2d4h`, `42s`), for sorting.
fn duration_seconds(text: &str) -> Option<u64> {
    let (mut total, mut number, mut any) = (0u64, 0u64, false);
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            number = number.checked_mul(10)?.checked_add(u64::from(d))?;
        } else {
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3_600,
                'd' => 86_400,
                'y' => 365 * 86_400,
                _ => return None,
            };
            total += number * unit;
            number = 0;
            any = true;
        }
    }
    (any && number == 0).then_some(total)
}

/// How two cells order: as numbers (the first number of `3/4`), as ages, else as text.
fn compare_cells(a: &str, b: &str) -> Ordering {
    let number = |s: &str| s.split('/').next().and_then(|n| n.parse::<i64>().ok());
    match (number(a), number(b)) {
        (Some(x), Some(y)) => return x.cmp(&y),
        (Some(_), None) => return Ordering::Less,
        (None, Some(_)) => return Ordering::Greater,
        _ => {}
    }
    match (duration_seconds(a), duration_seconds(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// What a detail view shows about the selected object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailKind {
    Yaml,
    Describe,
    Logs,
}

impl DetailKind {
    fn name(self) -> &'static str {
        match self {
            DetailKind::Yaml => "yaml",
            DetailKind::Describe => "describe",
            DetailKind::Logs => "logs",
        }
    }
}

/// The YAML, description or log of one object, scrollable; refreshed when the object changes.
pub struct Detail {
    pub what: DetailKind,
    pub key: ObjectKey,
    pub lines: Vec<Line<'static>>,
    pub scroll: usize,
    page: Cell<usize>,
    /// The object's resourceVersion the lines were made from ("" once it is gone).
    seen: String,
}

/// One resource's table.
pub struct TableView {
    pub target: Target,
    pub headers: Vec<String>,
    pub letters: Vec<Option<char>>,
    pub filter: Option<Filter>,
    /// The filter being typed after `/` (applied as it is typed).
    pub filter_input: Option<String>,
    pub sort: Option<Sort>,
    rows: BTreeMap<ObjectKey, Arc<Row>>,
    index: Vec<Arc<Row>>,
    pub selected: usize,
    offset: Cell<usize>,
    page: Cell<usize>,
    seen_rv: u64,
    /// Rows changed since the index was built.
    stale: bool,
    indexed_at: Millis,
    pub detail: Option<Detail>,
}

impl TableView {
    /// Opens `target`'s table on the store as it is now.
    pub fn open(target: Target, store: &Store, now: Reading) -> TableView {
        let headers = target.headers();
        let letters = sort_letters(&headers);
        let mut view = TableView {
            target,
            headers,
            letters,
            filter: None,
            filter_input: None,
            sort: None,
            rows: BTreeMap::new(),
            index: Vec::new(),
            selected: 0,
            offset: Cell::new(0),
            page: Cell::new(20),
            seen_rv: store.resource_version(),
            stale: false,
            indexed_at: now.now,
            detail: None,
        };
        view.reload(store, now);
        view
    }

    fn row(&self, object: &Object, now: Reading) -> Arc<Row> {
        Arc::new(Row {
            key: store_key(object),
            cells: self.target.cells(object, now),
            created: object.meta().creation_timestamp.as_deref().unwrap_or_default().to_string(),
        })
    }

    fn reload(&mut self, store: &Store, now: Reading) {
        self.rows = self.target.load(store).iter().map(|o| (store_key(o), self.row(o, now))).collect();
        self.seen_rv = store.resource_version();
        self.reindex(store, now.now);
    }

    /// Brings the rows up to the store: only objects of this resource changed since the last
    /// sync are printed again. The index follows at most once per [`REFRESH`] of game time.
    pub fn sync(&mut self, store: &Store, now: Reading) {
        if store.resource_version() < self.seen_rv {
            // A new game's World: a different store.
            self.reload(store, now);
            return;
        }
        if store.resource_version() != self.seen_rv {
            let Some(changes) = store.changes_since(self.seen_rv) else {
                self.reload(store, now);
                return;
            };
            let mut changed = BTreeMap::new();
            for change in changes.filter(|c| self.target.owns(&c.object)) {
                let deleted = change.type_ == crate::cluster::store::ChangeType::Deleted;
                changed.insert(store_key(&change.object), (!deleted).then(|| change.object.clone()));
            }
            for (key, object) in changed {
                match object {
                    Some(object) => {
                        let row = self.row(&object, now);
                        self.rows.insert(key, row);
                    }
                    None => {
                        self.rows.remove(&key);
                    }
                }
                self.stale = true;
            }
            self.seen_rv = store.resource_version();
        }
        if self.stale && now.now.saturating_sub(self.indexed_at) >= REFRESH {
            self.reindex(store, now.now);
        }
    }

    /// Filters and sorts the cached rows, keeping the selection on the same object.
    fn reindex(&mut self, store: &Store, now: Millis) {
        let keep = self.index.get(self.selected).map(|r| r.key.clone());
        let kind = self.target.store_kind();
        let mut index: Vec<Arc<Row>> = match &self.filter {
            None => self.rows.values().cloned().collect(),
            Some(filter) => self
                .rows
                .values()
                .filter(|row| {
                    let labels = matches!(filter, Filter::Labels { .. })
                        .then(|| kind.meta_in(store, &row.key).map(|m| &m.labels))
                        .flatten();
                    filter.matches(row, labels.map(|l| &**l))
                })
                .cloned()
                .collect(),
        };
        if let Some(sort) = self.sort {
            let by_age = self.headers.get(sort.column).is_some_and(|h| h == "AGE");
            index.sort_by(|a, b| {
                let order = if by_age {
                    // Younger first, as a rising AGE reads.
                    b.created.cmp(&a.created)
                } else {
                    compare_cells(
                        a.cells.get(sort.column).map_or("", String::as_str),
                        b.cells.get(sort.column).map_or("", String::as_str),
                    )
                };
                let order = order.then_with(|| a.key.cmp(&b.key));
                if sort.descending { order.reverse() } else { order }
            });
        }
        self.index = index;
        self.selected = keep
            .and_then(|key| self.index.iter().position(|r| r.key == key))
            .unwrap_or(self.selected)
            .min(self.index.len().saturating_sub(1));
        self.stale = false;
        self.indexed_at = now;
    }

    /// Rows shown / rows of the resource.
    pub fn counts(&self) -> (usize, usize) {
        (self.index.len(), self.rows.len())
    }

    pub fn selected_key(&self) -> Option<&ObjectKey> {
        self.index.get(self.selected).map(|r| &r.key)
    }

    /// The selected row's cells (as last printed).
    pub fn selected_cells(&self) -> Option<&[String]> {
        self.index.get(self.selected).map(|r| r.cells.as_slice())
    }

    /// The keys of the shown rows, in order (tests and the bench read it).
    pub fn shown_keys(&self) -> impl Iterator<Item = &ObjectKey> {
        self.index.iter().map(|r| &r.key)
    }

    pub fn set_filter(&mut self, filter: Option<Filter>, store: &Store, now: Millis) {
        self.filter = filter;
        self.selected = 0;
        self.offset.set(0);
        self.reindex(store, now);
    }

    /// Sorts by the column of `letter`; again reverses it.
    pub fn sort_by_letter(&mut self, letter: char, store: &Store, now: Millis) -> bool {
        let Some(column) = self.letters.iter().position(|l| *l == Some(letter)) else { return false };
        self.sort = Some(match self.sort {
            Some(Sort { column: c, descending }) if c == column => Sort { column, descending: !descending },
            _ => Sort { column, descending: false },
        });
        self.reindex(store, now);
        true
    }

    /// Moves the selection by `delta` rows, within the table.
    pub fn move_by(&mut self, delta: isize) {
        let last = self.index.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(delta).min(last);
    }

    pub fn page(&self) -> usize {
        self.page.get().max(1)
    }

    /// The first row shown for a page of `height` rows: the last one, moved just enough to
    /// keep the selection in sight.
    fn first_shown(&self, height: usize) -> usize {
        let mut offset = self.offset.get().min(self.index.len().saturating_sub(height));
        if self.selected < offset {
            offset = self.selected;
        } else if height > 0 && self.selected >= offset + height {
            offset = self.selected + 1 - height;
        }
        self.offset.set(offset);
        self.page.set(height);
        offset
    }
}

/// The command bar being typed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommandBar {
    pub text: String,
    /// The typed prefix and the completion `tab` last chose, while tabbing through them.
    cycle: Option<(String, usize)>,
}

/// The resource views' state on the [`App`].
#[derive(Default)]
pub struct Views {
    pub bar: Option<CommandBar>,
    pub table: Option<TableView>,
}

/// Keeps an open table (and its detail) current with the store; called after each tick.
pub fn refresh(app: &mut App) {
    let reading = app.driver.world.reading();
    let Some(table) = app.views.table.as_mut() else { return };
    table.sync(&app.driver.world.cluster().store, reading);
    let Some(detail) = &table.detail else { return };
    let (what, key) = (detail.what, detail.key.clone());
    let now_rv = table
        .target
        .store_kind()
        .meta_in(&app.driver.world.cluster().store, &key)
        .map_or(String::new(), |m| m.resource_version.to_string());
    if now_rv != detail.seen {
        let lines = detail_lines(app, what, &key);
        if let Some(detail) = app.views.table.as_mut().and_then(|t| t.detail.as_mut()) {
            detail.lines = lines;
            detail.seen = now_rv;
        }
    }
}

/// Opens `target`'s table (a command bar's result).
pub fn open(app: &mut App, target: Target) {
    let reading = app.driver.world.reading();
    app.views.table = Some(TableView::open(target, &app.driver.world.cluster().store, reading));
}

/// Handles a key for the command bar or an open table; false when it is the game's. A table
/// captures every key (the game's keys work again once `esc` is back on the lane); an overlay
/// (help, game over) over it keeps its own keys.
pub fn handle_key(app: &mut App, key: KeyEvent) -> bool {
    if app.views.bar.is_some() {
        bar_key(app, key);
        return true;
    }
    if app.overlay != super::Overlay::None {
        return false;
    }
    if app.views.table.is_some() {
        table_key(app, key);
        return true;
    }
    if key.code == KeyCode::Char(':') {
        app.views.bar = Some(CommandBar::default());
        return true;
    }
    false
}

fn bar_key(app: &mut App, key: KeyEvent) {
    let Some(bar) = app.views.bar.as_mut() else { return };
    match key.code {
        KeyCode::Esc => app.views.bar = None,
        KeyCode::Enter => {
            let line = bar.text.clone();
            app.views.bar = None;
            match resolve(&line, &app.driver.world.cluster().store) {
                Ok(Command::Quit) => app.quit = true,
                Ok(Command::Open(target)) => open(app, target),
                Err(message) => app.say(message),
            }
        }
        KeyCode::Tab => {
            let prefix = bar.cycle.as_ref().map_or_else(|| bar.text.clone(), |(p, _)| p.clone());
            let names = completions(&prefix, &app.driver.world.cluster().store);
            let Some(bar) = app.views.bar.as_mut() else { return };
            if names.is_empty() {
                return;
            }
            let next = match &bar.cycle {
                Some((_, at)) => (at + 1) % names.len(),
                None => 0,
            };
            bar.text = names[next].clone();
            bar.cycle = Some((prefix, next));
        }
        KeyCode::Backspace => {
            if bar.text.pop().is_none() {
                app.views.bar = None;
            } else {
                bar.cycle = None;
            }
        }
        KeyCode::Char(c) => {
            bar.text.push(c);
            bar.cycle = None;
        }
        _ => {}
    }
}

fn table_key(app: &mut App, key: KeyEvent) {
    let now = app.driver.world.now();
    let Some(table) = app.views.table.as_mut() else { return };
    let store = &app.driver.world.cluster().store;
    if let Some(input) = table.filter_input.as_mut() {
        match key.code {
            KeyCode::Esc => {
                table.filter_input = None;
                table.set_filter(None, store, now);
            }
            KeyCode::Enter => table.filter_input = None,
            KeyCode::Backspace => {
                input.pop();
                let typed = input.clone();
                if let Ok(filter) = Filter::parse(&typed) {
                    table.set_filter(filter, store, now);
                }
            }
            KeyCode::Char(c) => {
                input.push(c);
                let typed = input.clone();
                // Applied as typed; a selector still being written applies once it parses.
                if let Ok(filter) = Filter::parse(&typed) {
                    table.set_filter(filter, store, now);
                }
            }
            _ => {}
        }
        return;
    }
    if let Some(detail) = table.detail.as_mut() {
        let page = detail.page.get().max(1);
        let last = detail.lines.len().saturating_sub(page);
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') => table.detail = None,
            KeyCode::Down | KeyCode::Char('j') => detail.scroll = (detail.scroll + 1).min(last),
            KeyCode::Up | KeyCode::Char('k') => detail.scroll = detail.scroll.saturating_sub(1),
            KeyCode::PageDown | KeyCode::Char(' ') => detail.scroll = (detail.scroll + page).min(last),
            KeyCode::PageUp => detail.scroll = detail.scroll.saturating_sub(page),
            KeyCode::Home | KeyCode::Char('g') => detail.scroll = 0,
            KeyCode::End | KeyCode::Char('G') => detail.scroll = last,
            KeyCode::Char('y') => show(app, DetailKind::Yaml),
            KeyCode::Char('d') => show(app, DetailKind::Describe),
            KeyCode::Char('l') => show(app, DetailKind::Logs),
            KeyCode::Char('?') => app.overlay = super::Overlay::Help,
            _ => {}
        }
        return;
    }
    let page = table.page() as isize;
    match key.code {
        KeyCode::Esc | KeyCode::Char('q') => {
            if table.filter.is_some() {
                table.set_filter(None, store, now);
            } else {
                app.views.table = None;
            }
        }
        KeyCode::Down | KeyCode::Char('j') => table.move_by(1),
        KeyCode::Up | KeyCode::Char('k') => table.move_by(-1),
        KeyCode::PageDown | KeyCode::Char(' ') => table.move_by(page),
        KeyCode::PageUp => table.move_by(-page),
        KeyCode::Home | KeyCode::Char('g') => table.selected = 0,
        KeyCode::End | KeyCode::Char('G') => table.move_by(isize::MAX),
        KeyCode::Char('/') => table.filter_input = Some(table.filter.as_ref().map(Filter::source).unwrap_or_default()),
        KeyCode::Char(':') => app.views.bar = Some(CommandBar::default()),
        KeyCode::Char('y') => show(app, DetailKind::Yaml),
        KeyCode::Char('d') | KeyCode::Enter => show(app, DetailKind::Describe),
        KeyCode::Char('l') => show(app, DetailKind::Logs),
        KeyCode::Char('?') => app.overlay = super::Overlay::Help,
        KeyCode::Char(c) if c.is_ascii_uppercase() && !table.sort_by_letter(c, store, now) => {
            let letters: String = table.letters.iter().flatten().collect();
            app.say(format!("shift+{c} sorts nothing here: the columns sort by {letters}"));
        }
        _ => {}
    }
}

/// Opens (or switches) the detail view on the selected object.
fn show(app: &mut App, what: DetailKind) {
    let Some(table) = app.views.table.as_ref() else { return };
    let Some(key) = table.selected_key().cloned() else {
        app.say("nothing selected");
        return;
    };
    if what == DetailKind::Logs && table.target != Target::Builtin(Kind::Pod) {
        app.say(format!("l shows a pod's log; {} have none", table.target.plural()));
        return;
    }
    let seen = table
        .target
        .store_kind()
        .meta_in(&app.driver.world.cluster().store, &key)
        .map_or(String::new(), |m| m.resource_version.to_string());
    let lines = detail_lines(app, what, &key);
    if let Some(table) = app.views.table.as_mut() {
        table.detail = Some(Detail { what, key, lines, scroll: 0, page: Cell::new(20), seen });
    }
}

/// The lines of a detail view: the API's serialization as YAML, the game's describe (pods and
/// nodes) or a kubectl-describe-like summary, or the pod's log as `kubectl logs` prints it.
pub fn detail_lines(app: &App, what: DetailKind, key: &ObjectKey) -> Vec<Line<'static>> {
    let Some(table) = app.views.table.as_ref() else { return Vec::new() };
    let store = &app.driver.world.cluster().store;
    let Some(object) = table.target.get(store, key) else {
        return vec![Line::styled(format!("{} {} no longer exists", table.target.plural(), key), app.theme.warn())];
    };
    match what {
        DetailKind::Yaml => match serde_norway::to_string(&object) {
            Ok(yaml) => yaml.lines().map(|l| Line::from(l.to_string())).collect(),
            Err(e) => vec![Line::styled(format!("cannot show as YAML: {e}"), app.theme.bad())],
        },
        DetailKind::Logs => match &object {
            Object::Pod(pod) => match crate::api::logs::pod_log_text(pod) {
                Ok(text) => text.lines().map(|l| Line::from(l.to_string())).collect(),
                Err(message) => vec![Line::styled(message, app.theme.warn())],
            },
            _ => Vec::new(),
        },
        DetailKind::Describe => match &object {
            Object::Pod(_) => super::view::describe_pod(app, key),
            Object::Node(node) => super::view::describe_node_named(app, &node.metadata.name),
            other => describe_generic(app, other),
        },
    }
}

/// `kubectl describe`'s head for any kind: identity, labels, annotations, owner, events.
fn describe_generic(app: &App, object: &Object) -> Vec<Line<'static>> {
    let t = &app.theme;
    let meta = object.meta();
    let reading = app.driver.world.reading();
    let field =
        |name: &str, value: String| Line::from(vec![Span::styled(format!("{name:<14}"), t.title()), Span::raw(value)]);
    fn pairs<'a>(map: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
        let pairs: Vec<String> = map.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        if pairs.is_empty() { "<none>".to_string() } else { pairs.join("  ") }
    }
    let mut lines = vec![field("Name:", meta.name.clone())];
    if let Some(namespace) = &meta.namespace {
        lines.push(field("Namespace:", namespace.to_string()));
    }
    lines.push(field("Kind:", object.kind().name().to_string()));
    lines.push(field("Labels:", pairs(meta.labels.iter())));
    lines.push(field("Annotations:", pairs(meta.annotations.iter())));
    lines.push(field(
        "Created:",
        format!(
            "{} ({} ago)",
            meta.creation_timestamp.clone().unwrap_or_default(),
            crate::cluster::objects::print::age(meta.creation_timestamp.as_deref(), reading)
        ),
    ));
    if let Some(owner) = meta.controller() {
        lines.push(field("Controlled By:", format!("{}/{}", owner.kind, owner.name)));
    }
    let kind_name = match object {
        Object::CustomObject(o) => o.kind.to_string(),
        other => other.kind().name().to_string(),
    };
    lines.extend(describe_events(app, &kind_name, meta.namespace(), &meta.name));
    lines
}

/// `Events:` as `kubectl describe` ends: the object's last 20 events, oldest first.
pub(super) fn describe_events(app: &App, kind: &str, namespace: &str, name: &str) -> Vec<Line<'static>> {
    let reading = app.driver.world.reading();
    let events: Vec<&Event> = app
        .driver
        .world
        .cluster()
        .store
        .list::<Event>()
        .filter(|e| {
            e.involved_object.kind == kind && e.involved_object.name == name && e.involved_object.namespace == namespace
        })
        .collect();
    let mut lines =
        vec![Line::styled(if events.is_empty() { "Events:       <none>" } else { "Events:" }, app.theme.title())];
    for e in events.iter().rev().take(20).rev() {
        let last = e.last_timestamp.as_deref().or(e.first_timestamp.as_deref());
        lines.push(Line::from(format!(
            "  {:<8} {:<22} {:>6}  {:<24} {}",
            e.type_,
            e.reason,
            crate::cluster::objects::print::age(last, reading),
            e.source.component,
            e.message
        )));
    }
    lines
}

/// The middle of the screen while a table is open: the table, or its detail view.
pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let Some(table) = &app.views.table else { return };
    if let Some(detail) = &table.detail {
        return draw_detail(frame, app, table, detail, area);
    }
    let t = &app.theme;
    let (shown, total) = table.counts();
    let scope = if table.target.namespaced() { "(all)" } else { "" };
    let mut title = vec![Span::styled(format!(" {}{scope}[{shown}/{total}] ", table.target.plural()), t.title())];
    if let Some(filter) = &table.filter {
        title.push(Span::styled(format!("</{}> ", filter.source()), t.warn()));
    }
    let sort_keys: Vec<String> = table
        .headers
        .iter()
        .zip(&table.letters)
        .filter_map(|(h, l)| l.map(|l| format!("{l} {}", h.to_lowercase())))
        .collect();
    let bottom = format!(" sort: shift+ {} ", sort_keys.join(" · "));
    let bottom_width = bottom.chars().count();
    let block = Block::new()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(t.dim())
        .title(Line::from(title))
        .title_bottom(Line::styled(bottom, t.dim()).right_aligned());
    // The selected pod, if it waits: why, where kubectl would need a describe.
    let store = &app.driver.world.cluster().store;
    let waiting = (table.target == Target::Builtin(Kind::Pod))
        .then(|| table.selected_key())
        .flatten()
        .and_then(|key| store.get::<Pod>(key))
        .and_then(|pod| why_waiting(app, pod).map(|why| format!("{}: {why}", pod.metadata.name)));
    let block = match waiting {
        Some(why) => {
            // What room the sort keys leave, between the corners.
            let room = usize::from(area.width).saturating_sub(bottom_width + 5);
            block.title_bottom(Line::styled(format!(" {} ", truncate(&why, room)), t.warn()).left_aligned())
        }
        None => block,
    };
    let block = if app.theme.unicode { block } else { block.border_set(ASCII_BORDER) };
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = usize::from(inner.height.saturating_sub(1));
    let first = table.first_shown(height);
    let reading = app.driver.world.reading();
    let visible: Vec<(bool, Vec<String>)> = table.index[first..(first + height).min(table.index.len())]
        .iter()
        .enumerate()
        .map(|(i, row)| {
            // Printed fresh, so ages and states are current; a row gone since the index was
            // built keeps its last cells until the next refresh.
            let cells = table
                .target
                .get(store, &row.key)
                .map_or_else(|| row.cells.clone(), |o| table.target.cells(&o, reading));
            (first + i == table.selected, cells)
        })
        .collect();
    let mut widths: Vec<u16> = table.headers.iter().map(|h| h.chars().count() as u16 + 2).collect();
    for (_, cells) in &visible {
        for (w, cell) in widths.iter_mut().zip(cells) {
            *w = (*w).max((cell.chars().count() as u16 + 1).min(60));
        }
    }
    let headers: Vec<String> = table
        .headers
        .iter()
        .enumerate()
        .map(|(i, h)| match table.sort {
            Some(Sort { column, descending }) if column == i => format!("{h}{}", if descending { "↓" } else { "↑" }),
            _ => h.clone(),
        })
        .collect();
    let rows = visible.into_iter().map(|(selected, cells)| {
        let style =
            if selected { Style::new().add_modifier(Modifier::REVERSED) } else { row_style(app, &cells, table) };
        TableRow::new(cells).style(style)
    });
    let constraints: Vec<Constraint> = widths.iter().map(|w| Constraint::Length(*w)).collect();
    let widget = Table::new(rows, constraints).header(TableRow::new(headers).style(t.title())).column_spacing(1);
    frame.render_widget(widget, inner);
    if table.index.is_empty() {
        let empty = if table.filter.is_some() { "no rows match the filter (esc clears it)" } else { "no objects" };
        let rect = Rect { y: inner.y + 1, height: 1.min(inner.height.saturating_sub(1)), ..inner };
        frame.render_widget(Paragraph::new(Line::styled(empty, t.dim())), rect);
    }
}

/// k9s' colours by state: trouble stands out, what is settled is plain.
fn row_style(app: &App, cells: &[String], table: &TableView) -> Style {
    let status = table.headers.iter().position(|h| h == "STATUS").and_then(|i| cells.get(i));
    match status.map(String::as_str) {
        Some("Running" | "Ready" | "Succeeded" | "Completed") | None => Style::new(),
        Some("Terminating") => app.theme.dim(),
        Some("Pending" | "ContainerCreating") => app.theme.warn(),
        Some(_) => app.theme.bad(),
    }
}

fn draw_detail(frame: &mut Frame, app: &App, table: &TableView, detail: &Detail, area: Rect) {
    let t = &app.theme;
    let height = usize::from(area.height.saturating_sub(2));
    detail.page.set(height);
    let last = detail.lines.len().saturating_sub(height);
    let scroll = detail.scroll.min(last);
    let title = format!(" {} {} {} ", detail.what.name(), table.target.plural(), detail.key);
    let position = format!(
        " {}–{} of {} · j/k scroll · y d l switch · esc back ",
        scroll + 1,
        (scroll + height).min(detail.lines.len()),
        detail.lines.len()
    );
    let block = Block::new()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(t.dim())
        .title(Line::styled(title, t.title()))
        .title_bottom(Line::styled(position, t.dim()));
    let block = if app.theme.unicode { block } else { block.border_set(ASCII_BORDER) };
    let lines: Vec<Line> = detail.lines.iter().skip(scroll).take(height).cloned().collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

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

/// The bottom line while the command bar, a filter being typed, or a table is up; false when
/// the game's hint bar should be drawn instead.
pub fn draw_bar(frame: &mut Frame, app: &App, area: Rect) -> bool {
    let t = &app.theme;
    let message = app.message.as_ref().filter(|(_, until)| *until > std::time::Instant::now()).map(|(m, _)| m.clone());
    let line = if let Some(bar) = &app.views.bar {
        let hint = completions(&bar.text, &app.driver.world.cluster().store)
            .first()
            .filter(|_| !bar.text.is_empty())
            .and_then(|first| first.strip_prefix(&bar.text.to_lowercase()).map(str::to_string))
            .unwrap_or_default();
        Line::from(vec![
            Span::styled(" :", t.title()),
            Span::raw(bar.text.clone()),
            Span::styled(hint, t.dim()),
            Span::styled(if t.unicode { "▏" } else { "_" }, t.title()),
            Span::styled("   tab completes · enter opens · esc cancels", t.dim()),
        ])
    } else if let Some(table) = &app.views.table {
        if let Some(input) = &table.filter_input {
            Line::from(vec![
                Span::styled(" /", t.title()),
                Span::raw(input.clone()),
                Span::styled(if t.unicode { "▏" } else { "_" }, t.title()),
                Span::styled("   text, or -l key=value · enter keeps · esc clears", t.dim()),
            ])
        } else if let Some(message) = message {
            Line::styled(format!(" {message}"), t.warn())
        } else {
            let keys: &[(&str, &str)] = if table.detail.is_some() {
                &[
                    ("j k", "scroll"),
                    ("g G", "top/end"),
                    ("y", "yaml"),
                    ("d", "describe"),
                    ("l", "logs"),
                    ("esc", "back"),
                ]
            } else {
                &[
                    ("j k ↑↓", "move"),
                    ("pgup pgdn g G", "page/ends"),
                    ("/", "filter"),
                    ("shift+letter", "sort"),
                    ("y", "yaml"),
                    ("d", "describe"),
                    ("l", "logs"),
                    (":", "command"),
                    ("esc", "back"),
                    ("?", "help"),
                ]
            };
            let mut spans = Vec::new();
            for (k, what) in keys {
                spans.push(Span::styled(format!(" {k} "), t.title()));
                spans.push(Span::styled(format!("{what} "), t.dim()));
            }
            Line::from(spans)
        }
    } else {
        return false;
    };
    frame.render_widget(Paragraph::new(line), area);
    true
}

/// Opening the pods view and its frames (refresh + draw at 200×50, scrolling a page a frame)
/// on a generated lane of `nodes` pins and `pods` pods, with the World stepping between frames
/// (the step itself not timed). Returns (open, frames).
pub fn bench_pods_view(
    nodes: usize,
    pods: usize,
) -> anyhow::Result<(crate::bench::Measurement, crate::bench::Measurement)> {
    use crate::bench::Measurement;
    use anyhow::Context;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    let options = super::PlayOptions {
        scenario: crate::scenario::Scenario::generated(nodes, pods),
        seed: 1,
        timing: crate::cluster::timing::Preset::Arcade,
        speed: 1.0,
        ascii: false,
        listen: None,
        epoch: Default::default(),
    };
    let mut app = App::new(options, None).context("starting the generated lane")?;
    // Until every pod exists (the ReplicaSets create them in slow-start batches), at most two
    // minutes of game time.
    for _ in 0..12_000 {
        if app.driver.world.cluster().store.len::<Pod>() >= pods {
            break;
        }
        app.driver.world.step();
        app.drain();
    }
    let existing = app.driver.world.cluster().store.len::<Pod>();
    let mut terminal = Terminal::new(TestBackend::new(200, 50))?;
    let start = std::time::Instant::now();
    open(&mut app, Target::Builtin(Kind::Pod));
    terminal.draw(|frame| super::view::render(frame, &app))?;
    let open_ms = start.elapsed().as_secs_f64() * 1000.0;
    let mut times = Vec::new();
    for i in 0..600 {
        app.driver.world.step();
        let start = std::time::Instant::now();
        app.drain();
        if let Some(table) = app.views.table.as_mut() {
            // Down a page a frame, back to the top every 200 frames: the middle and the end.
            if i % 200 == 0 {
                table.selected = 0;
            }
            let page = table.page() as isize;
            table.move_by(page * 50);
        }
        terminal.draw(|frame| super::view::render(frame, &app))?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| times[((q * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1];
    let open = Measurement {
        name: "pods_view_open".into(),
        nodes,
        pods: existing,
        pods_per_sec: None,
        solve_ms: open_ms,
        p99_ms: None,
        runs: 1,
        unplaced: None,
    };
    let frames = Measurement {
        name: "pods_view_frame".into(),
        nodes,
        pods: existing,
        pods_per_sec: None,
        solve_ms: pick(0.5),
        p99_ms: Some(pick(0.99)),
        runs: times.len(),
        unplaced: None,
    };
    // Leaked, not dropped: freeing 150,000 pods object by object costs seconds.
    std::mem::forget(app);
    Ok((open, frames))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_numbers_sort_as_values() {
        assert_eq!(duration_seconds("5m3s"), Some(303));
        assert_eq!(duration_seconds("2d4h"), Some(2 * 86_400 + 4 * 3_600));
        assert_eq!(duration_seconds("Running"), None);
        assert_eq!(compare_cells("42s", "5m3s"), Ordering::Less);
        assert_eq!(compare_cells("10", "9"), Ordering::Greater);
        assert_eq!(compare_cells("1/1", "0/1"), Ordering::Greater);
        assert_eq!(compare_cells("Pending", "Running"), Ordering::Less);
    }

    #[test]
    fn sort_letters_put_name_and_age_first_and_never_take_g() {
        let headers: Vec<String> =
            ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"].iter().map(|s| s.to_string()).collect();
        let letters = sort_letters(&headers);
        assert_eq!(letters, vec![Some('M'), Some('N'), Some('R'), Some('S'), Some('E'), Some('A')]);
        let g: Vec<String> = ["NAME", "GROUPS"].iter().map(|s| s.to_string()).collect();
        assert_eq!(sort_letters(&g), vec![Some('N'), Some('R')]);
    }

    #[test]
    fn filters_parse_text_and_label_selectors() {
        assert_eq!(Filter::parse("  ").unwrap(), None);
        assert_eq!(Filter::parse("Pending").unwrap(), Some(Filter::Text("Pending".into())));
        let labels = Filter::parse("-l app=web,tier!=db").unwrap().expect("a filter");
        assert_eq!(labels.source(), "-l app=web,tier!=db");
        let row = Row { key: ObjectKey::new("default", "x"), cells: vec!["x".into()], created: String::new() };
        let web: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        let db: BTreeMap<String, String> =
            [("app".to_string(), "web".to_string()), ("tier".to_string(), "db".to_string())].into();
        assert!(labels.matches(&row, Some(&web)));
        assert!(!labels.matches(&row, Some(&db)));
        assert!(Filter::parse("-l").is_err());
        assert!(Filter::parse("-l a b c").unwrap_err().contains("unable to parse requirement"));
        let text = Filter::parse("PEND").unwrap().expect("a filter");
        let pending = Row {
            key: ObjectKey::new("default", "p"),
            cells: vec!["p".into(), "Pending".into()],
            created: String::new(),
        };
        assert!(text.matches(&pending, None), "text filters ignore case and read every cell");
    }
}
