//! The dependency rule of ARCHITECTURE.md, held by the code: every top-level
//! module of `src/lib.rs` has a row in [`RULES`] naming the crate modules it
//! may name, lower modules name only modules below them, and only the
//! orchestration modules compose stages.
//!
//! Each file is read with a real Rust parser (`syn`), not as text: `use`
//! trees with groups, nesting, renames, `self` and `super` (resolved from the
//! file's module path and any inline `mod`), paths in code, and paths inside
//! macro bodies and attributes. Comments and string literals never count. A
//! token scan for `crate::NAME` backs that up for any place the parser's walk
//! does not reach. Not followed: a name a glob (`use super::*`) brought in
//! and then used bare; the glob itself counts as naming its module, and a
//! glob of the crate root is refused.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use syn::visit::{self, Visit};

/// Module → the crate modules its files may name (its own sub-modules and
/// their parents are always fine). Every module `src/lib.rs` declares has a
/// row, every allowance is used, and a row names only rows above it, so read
/// top to bottom the table is the order of the layers.
const RULES: &[(&str, &[&str])] = &[
    // Leaves: they name nothing of the crate.
    ("atomic", &[]),
    ("config", &[]),
    ("error", &[]),
    ("menu", &[]),
    ("notify", &[]),
    ("privileges", &[]),
    ("signals", &[]),
    // Cross-cutting and the lower stages.
    ("diff", &["menu"]),
    ("detect", &["config", "menu"]),
    ("image_sink", &["error"]),
    ("image_variants", &["config", "error", "menu"]),
    ("lock", &["error"]),
    ("instrument", &["error"]),
    ("publish", &["atomic", "error"]),
    ("state", &["atomic", "error"]),
    ("events", &["atomic"]),
    ("telemetry", &["config"]),
    ("gates", &["config", "diff", "menu"]),
    ("preview", &["atomic", "diff", "error", "menu"]),
    ("report", &["error", "state"]),
    ("pos", &["config", "error", "image_sink", "menu"]),
    ("target", &["atomic", "config", "error", "lock", "publish"]),
    ("transform", &["config", "error", "menu", "pos"]),
    (
        "images",
        &[
            "config",
            "error",
            "image_sink",
            "image_variants",
            "menu",
            "pos",
            "publish",
        ],
    ),
    ("metrics", &["atomic", "error", "report", "state"]),
    ("cluster", &["config", "error", "events", "pos", "state"]),
    // Orchestration: the only modules that compose stages.
    (
        "pipeline",
        &[
            "atomic",
            "cluster",
            "config",
            "detect",
            "diff",
            "error",
            "gates",
            "image_variants",
            "images",
            "instrument",
            "lock",
            "menu",
            "metrics",
            "pos",
            "preview",
            "publish",
            "report",
            "target",
            "state",
            "transform",
        ],
    ),
    (
        "operations",
        &[
            "config",
            "diff",
            "error",
            "images",
            "instrument",
            "lock",
            "menu",
            "pipeline",
            "preview",
            "publish",
            "report",
            "state",
            "transform",
        ],
    ),
    (
        "daemon",
        &[
            "atomic",
            "cluster",
            "config",
            "events",
            "metrics",
            "notify",
            "operations",
            "pipeline",
            "publish",
            "signals",
            "state",
        ],
    ),
    (
        "commands",
        &[
            "cluster",
            "config",
            "daemon",
            "events",
            "metrics",
            "operations",
            "pipeline",
            "preview",
            "publish",
            "signals",
            "state",
        ],
    ),
    // The binary's argument types; `main.rs` hands them to `commands`.
    ("cli", &[]),
];

/// The modules that name no other module of the crate (ARCHITECTURE.md).
const LEAVES: &[&str] = &["config", "error", "menu"];

/// The modules that compose stages; no module outside this list names one.
const ORCHESTRATION: &[&str] = &["pipeline", "operations", "daemon", "commands"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// A path resolved from the crate root, `crate::state::StoreState` as
/// `["state", "StoreState"]`, with the line it was found on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Named {
    path: Vec<String>,
    line: usize,
}

/// Resolves `segments` against `scope` (the module the code is in) when they
/// start at `crate`, `self` or `super`; `None` for anything else (an outside
/// crate, or a name local to the module, which reaches nothing new).
fn resolve(scope: &[String], segments: &[String]) -> Option<Result<Vec<String>, String>> {
    let (mut base, mut rest) = match segments.first().map(String::as_str) {
        Some("crate") => (Vec::new(), &segments[1..]),
        Some("self") => (scope.to_vec(), &segments[1..]),
        Some("super") => (scope.to_vec(), segments),
        _ => return None,
    };
    while rest.first().is_some_and(|segment| segment == "super") {
        if base.pop().is_none() {
            return Some(Err(format!(
                "`{}` climbs above the crate root from `crate::{}`",
                segments.join("::"),
                scope.join("::")
            )));
        }
        rest = &rest[1..];
    }
    base.extend(rest.iter().filter(|segment| *segment != "self").cloned());
    Some(Ok(base))
}

/// Every path a `use` tree imports, as written: `a::{b, c::{d as e}}` gives
/// `a::b` and `a::c::d`; a glob gives its prefix; `self` in a group its prefix.
fn use_tree_paths(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match tree {
        syn::UseTree::Path(path) => {
            prefix.push(path.ident.to_string());
            use_tree_paths(&path.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(name) => {
            let mut full = prefix.clone();
            full.push(name.ident.to_string());
            out.push(full);
        }
        syn::UseTree::Rename(rename) => {
            let mut full = prefix.clone();
            full.push(rename.ident.to_string());
            out.push(full);
        }
        syn::UseTree::Glob(_) => out.push(prefix.clone()),
        syn::UseTree::Group(group) => {
            for tree in &group.items {
                use_tree_paths(tree, prefix, out);
            }
        }
    }
}

/// Walks one file, keeping the module scope (inline `mod`s included).
struct Collector {
    scope: Vec<String>,
    named: BTreeSet<Named>,
    errors: Vec<String>,
}

impl Collector {
    fn add(&mut self, segments: &[String], line: usize) {
        match resolve(&self.scope, segments) {
            Some(Ok(path)) => {
                self.named.insert(Named { path, line });
            }
            Some(Err(err)) => self.errors.push(format!("line {line}: {err}")),
            None => {}
        }
    }

    /// Paths in a token stream the parser does not walk (macro bodies,
    /// attribute arguments): each run `crate|self|super (:: ident)*`,
    /// optionally ending in a `{…}` group, read as a `use` tree.
    fn scan_tokens(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut at = 0;
        while at < tokens.len() {
            if let TokenTree::Group(group) = &tokens[at] {
                self.scan_tokens(group.stream());
                at += 1;
                continue;
            }
            let starts_path = matches!(&tokens[at], TokenTree::Ident(ident)
                if ident == "crate" || ident == "self" || ident == "super");
            let follows_colons = at >= 1 && is_colon(&tokens[at - 1]);
            if !starts_path || follows_colons {
                at += 1;
                continue;
            }
            let line = tokens[at].span().start().line;
            let mut end = at + 1;
            while is_path_sep(&tokens[end..]) {
                match tokens.get(end + 2) {
                    Some(TokenTree::Ident(_)) => end += 3,
                    Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Brace => {
                        end += 3;
                        break;
                    }
                    _ => break,
                }
            }
            if end == at + 1 {
                // A bare `crate`, `self` or `super` (`pub(crate)`, `self.x`) names nothing.
                at = end;
                continue;
            }
            let run: TokenStream = tokens[at..end].iter().cloned().collect();
            match syn::parse2::<syn::UseTree>(run) {
                Ok(tree) => {
                    let mut paths = Vec::new();
                    use_tree_paths(&tree, &mut Vec::new(), &mut paths);
                    for path in paths {
                        self.add(&path, line);
                    }
                }
                Err(err) => self
                    .errors
                    .push(format!("line {line}: unreadable path: {err}")),
            }
            at = end;
        }
    }
}

fn is_colon(token: &TokenTree) -> bool {
    matches!(token, TokenTree::Punct(punct) if punct.as_char() == ':')
}

/// Whether `tokens` starts with `::`.
fn is_path_sep(tokens: &[TokenTree]) -> bool {
    matches!(tokens, [TokenTree::Punct(first), TokenTree::Punct(second), ..]
        if first.as_char() == ':' && first.spacing() == Spacing::Joint && second.as_char() == ':')
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if item.content.is_none() {
            // `mod x;` declares a file of its own, read on its own.
            return;
        }
        self.scope.push(item.ident.to_string());
        visit::visit_item_mod(self, item);
        self.scope.pop();
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        if item.leading_colon.is_some() {
            return; // `use ::name` is an outside crate.
        }
        let line = item.use_token.span.start().line;
        let mut paths = Vec::new();
        use_tree_paths(&item.tree, &mut Vec::new(), &mut paths);
        for path in paths {
            self.add(&path, line);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        // A one-segment path is a local name, or the receiver `self`.
        if path.leading_colon.is_none() && path.segments.len() > 1 {
            let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
            let line = path.segments[0].ident.span().start().line;
            self.add(&segments, line);
        }
        visit::visit_path(self, path);
    }

    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {
        // `pub(crate)`, `pub(super)`, `pub(in path)` restrict who sees an
        // item; they use nothing of the module they name.
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        visit::visit_macro(self, mac);
        self.scan_tokens(mac.tokens.clone());
    }

    fn visit_meta_list(&mut self, list: &'ast syn::MetaList) {
        visit::visit_meta_list(self, list);
        self.scan_tokens(list.tokens.clone());
    }
}

/// Every crate path `source` names, for a file whose module is `module`
/// (`src/pos/square/mapping.rs` is `["pos", "square", "mapping"]`).
fn crate_paths(module: &[String], source: &str) -> Result<BTreeSet<Named>, String> {
    let file = syn::parse_file(source).map_err(|err| {
        let at = err.span().start();
        format!("does not parse at {}:{}: {err}", at.line, at.column)
    })?;
    let mut collector = Collector {
        scope: module.to_vec(),
        named: BTreeSet::new(),
        errors: Vec::new(),
    };
    collector.visit_file(&file);
    // The plain match of `crate::NAME`, on tokens so comments and string
    // literals are already gone; it needs no scope, so it holds anywhere.
    // It backs the parser up: it adds only modules the walk did not find.
    let tokens = TokenStream::from_str(source).map_err(|err| err.to_string())?;
    let mut backup = BTreeSet::new();
    crate_colon_names(tokens, &mut backup);
    for named in backup {
        if !collector
            .named
            .iter()
            .any(|found| found.path.first() == named.path.first())
        {
            collector.named.insert(named);
        }
    }
    if collector.errors.is_empty() {
        Ok(collector.named)
    } else {
        Err(collector.errors.join("; "))
    }
}

/// Each `crate :: NAME` anywhere in `tokens`, nested groups included.
fn crate_colon_names(tokens: TokenStream, named: &mut BTreeSet<Named>) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    for (at, token) in tokens.iter().enumerate() {
        match token {
            TokenTree::Group(group) => crate_colon_names(group.stream(), named),
            TokenTree::Ident(ident) if ident == "crate" && is_path_sep(&tokens[at + 1..]) => {
                if let Some(TokenTree::Ident(name)) = tokens.get(at + 3) {
                    named.insert(Named {
                        path: vec![name.to_string()],
                        line: ident.span().start().line,
                    });
                }
            }
            _ => {}
        }
    }
}

/// The module path of a file under `src/`: `pos/square/mapping.rs` →
/// `pos::square::mapping`, `pos/mod.rs` → `pos`.
fn module_path_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    parts
}

/// The top-level modules `src/lib.rs` declares (`mod x;` and `pub mod x;`).
fn lib_modules() -> BTreeSet<String> {
    let text = std::fs::read_to_string(src().join("lib.rs")).expect("src/lib.rs is readable");
    let file = syn::parse_file(&text).expect("src/lib.rs parses");
    file.items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Mod(module) => Some(module.ident.to_string()),
            _ => None,
        })
        .collect()
}

/// Every `.rs` file under `src/` but the crate roots, with its module path.
fn module_files() -> Vec<(PathBuf, Vec<String>)> {
    let root = src();
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let relative = path.strip_prefix(&root).unwrap().to_path_buf();
                if relative != Path::new("lib.rs") && relative != Path::new("main.rs") {
                    files.push((path, module_path_of(&relative)));
                }
            }
        }
    }
    files.sort();
    files
}

/// The rows of [`RULES`] as sets.
fn rules() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    RULES
        .iter()
        .map(|(module, allowed)| (*module, allowed.iter().copied().collect()))
        .collect()
}

/// `crate::a::b`, or the crate root for an empty path (a glob of it names
/// every module).
fn shown(path: &[String]) -> String {
    if path.is_empty() {
        "the crate root".to_string()
    } else {
        format!("crate::{}", path.join("::"))
    }
}

/// The top-level modules one file names outside its own module, each with
/// the first line and path that names it.
fn named_modules(
    module: &[String],
    text: &str,
) -> Result<BTreeMap<String, (usize, String)>, String> {
    let mut named = BTreeMap::new();
    for Named { path, line } in crate_paths(module, text)? {
        let target = path.first().cloned().unwrap_or_default();
        if target != module[0] {
            named.entry(target).or_insert((line, shown(&path)));
        }
    }
    Ok(named)
}

/// What breaks the rules in one file: each module it names that its row
/// does not allow, as `label:line: module names path (allowed: …)`.
fn violations_in(label: &str, module: &[String], text: &str) -> Vec<String> {
    let rules = rules();
    let top = module[0].as_str();
    let Some(allowed) = rules.get(top) else {
        return vec![format!("{label}: `{top}` has no row in RULES")];
    };
    let named = match named_modules(module, text) {
        Ok(named) => named,
        Err(err) => return vec![format!("{label}: {err}")],
    };
    named
        .into_iter()
        .filter(|(target, _)| !allowed.contains(target.as_str()))
        .map(|(_, (line, path))| {
            let allowed: Vec<&str> = allowed.iter().copied().collect();
            format!(
                "{label}:{line}: `{top}` names {path} (its row allows: {})",
                allowed.join(", ")
            )
        })
        .collect()
}

fn label(file: &Path) -> String {
    file.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(file)
        .display()
        .to_string()
}

#[test]
fn every_module_of_lib_rs_has_a_row() {
    let declared = lib_modules();
    let rules = rules();
    let missing: Vec<&String> = declared
        .iter()
        .filter(|module| !rules.contains_key(module.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "modules of src/lib.rs with no row in RULES (tests/architecture.rs): {missing:?}; \
         add a row listing the crate modules each names, below those modules' rows"
    );
    let stale: Vec<&&str> = rules
        .keys()
        .filter(|module| !declared.contains(**module))
        .collect();
    assert!(
        stale.is_empty(),
        "rows for modules src/lib.rs does not declare: {stale:?}"
    );
    let strays: Vec<String> = module_files()
        .into_iter()
        .filter(|(_, module)| !declared.contains(&module[0]))
        .map(|(file, _)| label(&file))
        .collect();
    assert!(
        strays.is_empty(),
        "files under no module of src/lib.rs: {strays:?}"
    );
}

#[test]
fn lower_modules_name_only_the_modules_below_them() {
    let mut broken = Vec::new();
    for (file, module) in module_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        broken.extend(violations_in(&label(&file), &module, &text));
    }
    assert!(
        broken.is_empty(),
        "imports that run the wrong way (ARCHITECTURE.md, RULES in tests/architecture.rs):\n{}",
        broken.join("\n")
    );
}

/// An allowance no file uses would let a new arrow in unnoticed; the table
/// says what the code does, no more.
#[test]
fn every_allowed_arrow_is_used() {
    let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, module) in module_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let named =
            named_modules(&module, &text).unwrap_or_else(|err| panic!("{}: {err}", label(&file)));
        used.entry(module[0].clone())
            .or_default()
            .extend(named.into_keys());
    }
    let mut unused = Vec::new();
    for (module, allowed) in RULES {
        for target in *allowed {
            if !used
                .get(*module)
                .is_some_and(|named| named.contains(*target))
            {
                unused.push(format!("{module} → {target}"));
            }
        }
    }
    assert!(
        unused.is_empty(),
        "RULES allows arrows no file draws; remove them from their rows: {}",
        unused.join(", ")
    );
}

/// The table itself runs one way: a row names only rows above it (so no
/// circle can be written into it), the leaves name nothing, and nothing
/// outside the orchestration modules names one of them.
#[test]
fn the_table_runs_one_way() {
    let mut above: BTreeSet<&str> = BTreeSet::new();
    let mut broken = Vec::new();
    for (module, allowed) in RULES {
        for target in *allowed {
            if !above.contains(target) {
                broken.push(format!(
                    "`{module}` names `{target}`, which is not a row above it"
                ));
            }
            if ORCHESTRATION.contains(target) && !ORCHESTRATION.contains(module) {
                broken.push(format!(
                    "`{module}` names the orchestration module `{target}`"
                ));
            }
        }
        if LEAVES.contains(module) && !allowed.is_empty() {
            broken.push(format!("`{module}` is a leaf but names {allowed:?}"));
        }
        if !above.insert(module) {
            broken.push(format!("`{module}` has two rows"));
        }
    }
    assert!(
        broken.is_empty(),
        "RULES runs back up:\n{}",
        broken.join("\n")
    );
}

/// Inside a folder, sibling modules (`pos::client`, `pos::keys`) may name
/// each other only one way: no circle among the children of one module. A
/// child naming its parent, or a parent its child, is not an arrow between
/// siblings.
#[test]
fn no_circles_inside_folders() {
    let files = module_files();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(_, module)| module.clone()).collect();
    // parent → (child → the siblings it names)
    let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (file, module) in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let named =
            crate_paths(module, &text).unwrap_or_else(|err| panic!("{}: {err}", label(file)));
        for Named { path, .. } in named {
            let common = module.iter().zip(&path).take_while(|(a, b)| a == b).count();
            if common == 0 || common >= module.len() || common >= path.len() {
                continue;
            }
            if !modules.contains(&path[..=common]) {
                continue; // An item of the common parent, not a sibling module.
            }
            graphs
                .entry(module[..common].to_vec())
                .or_default()
                .entry(module[common].clone())
                .or_default()
                .insert(path[common].clone());
        }
    }
    let circles: Vec<String> = graphs
        .iter()
        .filter_map(|(parent, graph)| {
            circle_in(graph)
                .map(|circle| format!("in {}: {}", parent.join("::"), circle.join(" → ")))
        })
        .collect();
    assert!(
        circles.is_empty(),
        "circles inside folders:\n{}",
        circles.join("\n")
    );
}

/// One circle of `graph`, if it has any (depth-first, three colours).
fn circle_in(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn walk(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        trail: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = trail.iter().position(|seen| seen == node) {
            let mut circle = trail[at..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        trail.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = walk(next, graph, done, trail) {
                return Some(circle);
            }
        }
        trail.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| walk(node, graph, &mut done, &mut Vec::new()))
}

/// The parser and the checker on small sources, so neither can pass by
/// reading nothing.
mod parser {
    use super::*;

    fn module(path: &str) -> Vec<String> {
        path.split("::").map(str::to_string).collect()
    }

    fn paths(module_path: &str, source: &str) -> Vec<String> {
        let named = crate_paths(&module(module_path), source).unwrap();
        let shown: BTreeSet<String> = named.iter().map(|named| shown(&named.path)).collect();
        shown.into_iter().collect()
    }

    #[test]
    fn use_trees_resolve_to_crate_paths() {
        let cases: &[(&str, &str, &str, &[&str])] = &[
            (
                "plain",
                "state",
                "use crate::error::Kind;",
                &["crate::error::Kind"],
            ),
            (
                "grouped",
                "state",
                "use crate::{error, pipeline::run_pass};",
                &["crate::error", "crate::pipeline::run_pass"],
            ),
            (
                "nested groups",
                "state",
                "use crate::{a::{b, c::{d as e, self}}, f::*};",
                &["crate::a::b", "crate::a::c", "crate::a::c::d", "crate::f"],
            ),
            (
                "rename",
                "state",
                "use crate::pipeline as p;",
                &["crate::pipeline"],
            ),
            (
                "pub use",
                "pos::doc",
                "pub use crate::menu::Menu;",
                &["crate::menu::Menu"],
            ),
            (
                "pub(crate) use of super",
                "pipeline::build",
                "pub(crate) use super::deploy::Pending;",
                &["crate::pipeline::deploy::Pending"],
            ),
            (
                "super from a mod.rs",
                "pos",
                "use super::error::Kind;",
                &["crate::error::Kind"],
            ),
            (
                "super twice from a nested file",
                "pos::square",
                "use super::super::pipeline;",
                &["crate::pipeline"],
            ),
            (
                "super twice from three deep stays inside",
                "pos::square::mapping",
                "use super::super::config::X;",
                &["crate::pos::config::X"],
            ),
            (
                "super three times from three deep",
                "pos::square::mapping",
                "use super::super::super::{config, state::S};",
                &["crate::config", "crate::state::S"],
            ),
            (
                "self",
                "pipeline",
                "use self::deploy::Pending;",
                &["crate::pipeline::deploy::Pending"],
            ),
            (
                "super glob",
                "pipeline::deploy",
                "use super::*;",
                &["crate::pipeline"],
            ),
            ("a root glob", "state", "use super::*;", &["the crate root"]),
            (
                "inside an inline mod and a function",
                "state",
                "mod tests { use super::super::pipeline; fn f() { use super::*; } }",
                &["crate::pipeline", "crate::state"],
            ),
            (
                "outside crates",
                "state",
                "use std::fs; use ::serde::Serialize;",
                &[],
            ),
            ("local names", "pos", "use doc::MenuDoc;", &[]),
        ];
        for (case, module_path, source, expected) in cases {
            assert_eq!(paths(module_path, source), *expected, "case: {case}");
        }
    }

    #[test]
    fn paths_in_code_macros_and_attributes_count_but_comments_and_strings_do_not() {
        let cases: &[(&str, &str, &str, &[&str])] = &[
            (
                "expression and type",
                "state",
                "fn f() -> crate::error::Kind { crate::pipeline::run() }",
                &["crate::error::Kind", "crate::pipeline::run"],
            ),
            (
                "super in an expression",
                "pos::square",
                "fn f() { super::super::pipeline::run(); }",
                &["crate::pipeline::run"],
            ),
            (
                "macro body",
                "pos::square",
                "fn f() { tracing::info!(x = ?super::super::pipeline::X, y = crate::daemon::Y); }",
                &["crate::daemon::Y", "crate::pipeline::X"],
            ),
            (
                "group in a macro body",
                "state",
                "m! { use crate::{gates, diff::D}; }",
                &["crate::diff::D", "crate::gates"],
            ),
            (
                "attribute",
                "state",
                "#[serde(with = crate::wire)] struct S;",
                &["crate::wire"],
            ),
            (
                "comments",
                "state",
                "// crate::pipeline\n/* use super::super::x; */ struct S;",
                &[],
            ),
            (
                "doc comments",
                "state",
                "/// See [`crate::pipeline`].\nstruct S;",
                &[],
            ),
            (
                "strings",
                "state",
                "const X: &str = \"crate::pipeline\"; const Y: &str = r#\"super::x\"#;",
                &[],
            ),
            (
                "visibility",
                "pos::doc",
                "pub(crate) struct S; pub(super) fn f() {}",
                &[],
            ),
            (
                "receiver and Self",
                "state",
                "impl S { fn f(&self) -> Self { self.g(); Self::h() } }",
                &[],
            ),
        ];
        for (case, module_path, source, expected) in cases {
            assert_eq!(paths(module_path, source), *expected, "case: {case}");
        }
    }

    /// The backup token match alone: `crate::NAME` anywhere but comments and strings.
    #[test]
    fn the_token_match_finds_crate_names_anywhere() {
        let source = "// crate::a\nx!(crate::b::c, \"crate::d\") #[e(crate::f)] fn g() {}";
        let mut named = BTreeSet::new();
        crate_colon_names(TokenStream::from_str(source).unwrap(), &mut named);
        let names: Vec<String> = named.into_iter().map(|named| shown(&named.path)).collect();
        assert_eq!(names, ["crate::b", "crate::f"]);
    }

    #[test]
    fn climbing_above_the_crate_root_is_an_error() {
        let err = crate_paths(&module("state"), "use super::super::x;").unwrap_err();
        assert!(err.contains("above the crate root"), "{err}");
    }

    #[test]
    fn a_file_names_its_module_path() {
        for (file, expected) in [
            ("state.rs", "state"),
            ("pos/mod.rs", "pos"),
            ("pos/square.rs", "pos::square"),
            ("pos/square/mapping.rs", "pos::square::mapping"),
            ("pos/square/mapping/tests.rs", "pos::square::mapping::tests"),
        ] {
            assert_eq!(
                module_path_of(Path::new(file)).join("::"),
                expected,
                "{file}"
            );
        }
    }

    /// The two arrows back up that text matching let through.
    #[test]
    fn the_checker_refuses_grouped_and_super_arrows_back_up() {
        let grouped = violations_in(
            "src/state.rs",
            &module("state"),
            "use crate::{error, pipeline};",
        );
        assert_eq!(grouped.len(), 1, "{grouped:?}");
        assert!(
            grouped[0].contains("`state` names crate::pipeline"),
            "{grouped:?}"
        );
        let nested = violations_in(
            "src/pos/square.rs",
            &module("pos::square"),
            "use super::super::pipeline;",
        );
        assert_eq!(nested.len(), 1, "{nested:?}");
        assert!(
            nested[0].contains("`pos` names crate::pipeline"),
            "{nested:?}"
        );
        let own = violations_in(
            "src/pos/square.rs",
            &module("pos::square"),
            "use super::doc::MenuDoc;",
        );
        assert!(own.is_empty(), "{own:?}");
        let unknown = violations_in("src/golive.rs", &module("golive"), "");
        assert!(unknown[0].contains("no row"), "{unknown:?}");
    }

    #[test]
    fn a_circle_is_found() {
        let graph: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "c"), ("c", "a")]
            .iter()
            .map(|(from, to)| (from.to_string(), BTreeSet::from([to.to_string()])))
            .collect();
        assert_eq!(circle_in(&graph).unwrap(), ["a", "b", "c", "a"]);
        let line: BTreeMap<String, BTreeSet<String>> =
            BTreeMap::from([("a".to_string(), BTreeSet::from(["b".to_string()]))]);
        assert_eq!(circle_in(&line), None);
    }
}
