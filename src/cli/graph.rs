//! `wrangle graph [--dot]`: the dependency graph of the project, in layers on the terminal (a
//! service's layer is one more than its deepest dependency's: everything in a layer can start
//! together) or as Graphviz dot. With a running wrangle, each service's readiness time on its
//! last start (`startup_seconds` of `ps`); otherwise the structure alone. The critical path is
//! the chain of dependencies that took longest to become ready (with times), or the longest
//! chain (without): what to make faster first to start the project faster.
//!
//! Reading the config takes no lock: a graph is drawn while the project runs.

use std::fmt::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::api::client::{Client, ClientError};
use crate::api::wire::ProjectStatus;
use crate::cli::project;
use crate::exit;
use crate::human;
use crate::spec::ProjectSpec;

#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub project: crate::cli::ProjectArgs,
    #[command(flatten)]
    pub profile: crate::cli::ProfileArgs,
    /// Print the graph in Graphviz's dot language (`wrangle graph --dot | dot -Tsvg > g.svg`).
    #[arg(long)]
    pub dot: bool,
}

pub fn graph(file: Option<PathBuf>, args: GraphArgs) -> u8 {
    let spec = match project::load_spec(file, &args.profile.selected()) {
        Ok(spec) => spec,
        Err(code) => return code,
    };
    let status = running_status(&spec);
    let graph = Graph::new(&spec, status.as_ref());
    let text = match args.dot {
        true => graph.dot(),
        false => graph.layers(status.is_some()),
    };
    crate::stdout::text(format_args!("{text}"));
    exit::SUCCESS
}

/// The running wrangle's status, when one runs this project and answers.
fn running_status(spec: &ProjectSpec) -> Option<ProjectStatus> {
    let paths = crate::paths::Home::from_env()
        .and_then(|home| home.project(&spec.source))
        .ok()?;
    let client = Client::new(paths.control_socket.clone());
    match project::block_on(client.status()) {
        Ok(Ok(status)) => Some(status),
        Ok(Err(ClientError::NotRunning)) | Err(_) => None,
        Ok(Err(error)) => {
            eprintln!("warning: the running wrangle did not answer ({error}); structure only");
            None
        }
    }
}

/// One service: its dependencies (index, condition) and its readiness time, if known.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub dependencies: Vec<(usize, &'static str)>,
    pub ready_in: Option<Duration>,
}

/// The graph, its layers and its critical path.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    pub name: String,
    pub nodes: Vec<Node>,
    /// Per node, its layer (0: no dependencies).
    pub layer: Vec<usize>,
    /// The critical path, from its first service to its last.
    pub critical: Vec<usize>,
}

impl Graph {
    pub fn new(spec: &ProjectSpec, status: Option<&ProjectStatus>) -> Graph {
        let nodes = spec
            .services
            .iter()
            .map(|service| Node {
                name: service.name.clone(),
                dependencies: service
                    .depends_on
                    .iter()
                    .map(|dependency| (dependency.service, dependency.condition.as_str()))
                    .collect(),
                // The slowest instance of the service.
                ready_in: status.and_then(|status| {
                    status
                        .services
                        .iter()
                        .filter(|entry| entry.name == service.name)
                        .filter_map(|entry| entry.startup_seconds)
                        .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
                        .map(Duration::from_secs_f64)
                        .max()
                }),
            })
            .collect();
        let name = spec
            .source
            .parent()
            .and_then(|dir| dir.file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "wrangle".to_string());
        Graph::from_nodes(name, nodes)
    }

    /// Layers and critical path of `nodes`, which must have no cycle (a spec has none).
    pub fn from_nodes(name: String, nodes: Vec<Node>) -> Graph {
        let count = nodes.len();
        // Depth-first in an order where dependencies come first.
        let order = topological(&nodes);
        let mut layer = vec![0; count];
        // The heaviest chain ending at each node, and the dependency it comes through.
        let mut weight = vec![0.0_f64; count];
        let mut through: Vec<Option<usize>> = vec![None; count];
        for &node in &order {
            let own = match nodes[node].ready_in {
                Some(duration) => duration.as_secs_f64(),
                // Without times every service counts one: the longest chain.
                None => 1.0,
            };
            let mut best: Option<(f64, usize)> = None;
            for &(dependency, _) in &nodes[node].dependencies {
                layer[node] = layer[node].max(layer[dependency] + 1);
                if best.is_none_or(|(heaviest, _)| weight[dependency] > heaviest) {
                    best = Some((weight[dependency], dependency));
                }
            }
            weight[node] = own + best.map_or(0.0, |(heaviest, _)| heaviest);
            through[node] = best.map(|(_, dependency)| dependency);
        }
        let mut critical = Vec::new();
        // The heaviest chain's end; of equally heavy ones, the deepest (a service that was
        // ready at once still makes the chain longer), then the first declared.
        let mut end = (0..count).fold(None, |best: Option<usize>, node| match best {
            Some(best)
                if weight[best] > weight[node]
                    || (weight[best] == weight[node] && layer[best] >= layer[node]) =>
            {
                Some(best)
            }
            _ => Some(node),
        });
        while let Some(node) = end {
            critical.push(node);
            end = through[node];
        }
        critical.reverse();
        Graph {
            name,
            nodes,
            layer,
            critical,
        }
    }

    fn on_critical_path(&self, node: usize) -> bool {
        self.critical.contains(&node)
    }

    fn critical_edge(&self, from: usize, to: usize) -> bool {
        self.critical.windows(2).any(|pair| pair == [from, to])
    }

    /// The terminal view: layer by layer, `*` marking the critical path.
    pub fn layers(&self, timed: bool) -> String {
        let mut text = String::new();
        if self.nodes.is_empty() {
            return "no services\n".to_string();
        }
        let width = self
            .nodes
            .iter()
            .map(|node| node.name.len())
            .max()
            .unwrap_or(0);
        let layers = self.layer.iter().max().map_or(0, |deepest| deepest + 1);
        for layer in 0..layers {
            let _ = writeln!(text, "layer {}", layer + 1);
            for (index, node) in self.nodes.iter().enumerate() {
                if self.layer[index] != layer {
                    continue;
                }
                let mark = if self.on_critical_path(index) {
                    '*'
                } else {
                    ' '
                };
                let mut line = format!("  {mark} {:<width$}", node.name);
                if timed {
                    let ready = node
                        .ready_in
                        .map(|duration| format!("ready in {}", human::duration(duration)))
                        .unwrap_or_else(|| "not ready".to_string());
                    let _ = write!(line, "  {ready:<16}");
                }
                if !node.dependencies.is_empty() {
                    let after: Vec<String> = node
                        .dependencies
                        .iter()
                        .map(|(dependency, condition)| {
                            format!("{} ({condition})", self.nodes[*dependency].name)
                        })
                        .collect();
                    let _ = write!(line, "  after {}", after.join(", "));
                }
                let _ = writeln!(text, "{}", line.trim_end());
            }
        }
        let path: Vec<&str> = self
            .critical
            .iter()
            .map(|node| self.nodes[*node].name.as_str())
            .collect();
        let _ = write!(text, "\n* critical path: {}", path.join(" -> "));
        if timed {
            let total: Duration = self
                .critical
                .iter()
                .filter_map(|node| self.nodes[*node].ready_in)
                .sum();
            let _ = write!(
                text,
                " ({} of readiness on the last start)",
                human::duration(total)
            );
        } else {
            text.push_str(" (the longest chain; no wrangle runs this project, so no times)");
        }
        text.push('\n');
        text
    }

    /// Graphviz dot: an edge from each dependency to its dependent (the start order, left to
    /// right), labelled with its condition; the critical path in bold red.
    pub fn dot(&self) -> String {
        let mut text = format!(
            "digraph {} {{\n  rankdir=LR;\n  node [shape=box];\n",
            quote(&self.name)
        );
        for (index, node) in self.nodes.iter().enumerate() {
            let mut label = node.name.clone();
            if let Some(duration) = node.ready_in {
                let _ = write!(label, "\nready in {}", human::duration(duration));
            }
            let style = match self.on_critical_path(index) {
                true => ", color=red, penwidth=2",
                false => "",
            };
            let _ = writeln!(
                text,
                "  {} [label={}{style}];",
                quote(&node.name),
                quote(&label)
            );
        }
        for (index, node) in self.nodes.iter().enumerate() {
            for &(dependency, condition) in &node.dependencies {
                let style = match self.critical_edge(dependency, index) {
                    true => ", color=red, penwidth=2",
                    false => "",
                };
                let _ = writeln!(
                    text,
                    "  {} -> {} [label={}{style}];",
                    quote(&self.nodes[dependency].name),
                    quote(&node.name),
                    quote(condition)
                );
            }
        }
        text.push_str("}\n");
        text
    }
}

/// Nodes ordered so that every node comes after its dependencies.
fn topological(nodes: &[Node]) -> Vec<usize> {
    let mut order = Vec::with_capacity(nodes.len());
    let mut visited = vec![false; nodes.len()];
    for start in 0..nodes.len() {
        // An explicit stack: (node, whether its dependencies are done).
        let mut stack = vec![(start, false)];
        while let Some((node, expanded)) = stack.pop() {
            if expanded {
                order.push(node);
                continue;
            }
            if std::mem::replace(&mut visited[node], true) {
                continue;
            }
            stack.push((node, true));
            for &(dependency, _) in nodes[node].dependencies.iter().rev() {
                if !visited[dependency] {
                    stack.push((dependency, false));
                }
            }
        }
    }
    order
}

/// A dot double-quoted string: `"` and `\` escaped, a newline as dot's `\n`.
fn quote(text: &str) -> String {
    let mut quoted = String::from("\"");
    for character in text.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => {}
            other => quoted.push(other),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, dependencies: &[usize], ready_ms: Option<u64>) -> Node {
        Node {
            name: name.to_string(),
            dependencies: dependencies.iter().map(|d| (*d, "ready")).collect(),
            ready_in: ready_ms.map(Duration::from_millis),
        }
    }

    #[test]
    fn layers_and_the_slowest_chain_with_times() {
        // db (100ms) and cache (900ms) under api (200ms) under web (50ms); worker after db.
        let graph = Graph::from_nodes(
            "shop".into(),
            vec![
                node("web", &[1], Some(50)),
                node("api", &[2, 3], Some(200)),
                node("db", &[], Some(100)),
                node("cache", &[], Some(900)),
                node("worker", &[2], Some(3000)),
            ],
        );
        assert_eq!(graph.layer, vec![2, 1, 0, 0, 1]);
        // worker alone (3.1s with db) outweighs cache -> api -> web (1.15s).
        assert_eq!(graph.critical, vec![2, 4]);
        let text = graph.layers(true);
        assert_eq!(
            text,
            "layer 1\n\
             \x20 * db      ready in 100ms\n\
             \x20   cache   ready in 900ms\n\
             layer 2\n\
             \x20   api     ready in 200ms    after db (ready), cache (ready)\n\
             \x20 * worker  ready in 3s       after db (ready)\n\
             layer 3\n\
             \x20   web     ready in 50ms     after api (ready)\n\
             \n* critical path: db -> worker (3.1s of readiness on the last start)\n"
        );
    }

    #[test]
    fn without_times_the_longest_chain_is_critical() {
        let graph = Graph::from_nodes(
            "p".into(),
            vec![
                node("web", &[1], None),
                node("api", &[2], None),
                node("db", &[], None),
                node("worker", &[2], None),
            ],
        );
        assert_eq!(graph.critical, vec![2, 1, 0]);
        assert!(
            graph
                .layers(false)
                .ends_with("* critical path: db -> api -> web (the longest chain; no wrangle runs this project, so no times)\n")
        );
    }

    #[test]
    fn dot_quotes_names_and_marks_the_critical_path() {
        let graph = Graph::from_nodes(
            "my \"project\"".into(),
            vec![node("api", &[1], Some(1500)), node("db", &[], None)],
        );
        assert_eq!(
            graph.dot(),
            "digraph \"my \\\"project\\\"\" {\n  rankdir=LR;\n  node [shape=box];\n  \
             \"api\" [label=\"api\\nready in 1.5s\", color=red, penwidth=2];\n  \
             \"db\" [label=\"db\", color=red, penwidth=2];\n  \
             \"db\" -> \"api\" [label=\"ready\", color=red, penwidth=2];\n}\n"
        );
    }
}
