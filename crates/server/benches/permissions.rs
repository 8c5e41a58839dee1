//! `cargo bench -p stack-server --bench permissions`: how long a recursive
//! team-permission check takes in memory (definitions read from the rendered
//! config, the closure of a member's direct grants, the lookup) over a
//! five-level tree of 200 definitions. Prints min, p50, p99 and max.
//!
//! The database read of the member's direct grants is one indexed query on
//! top of this (see the API benchmark in `scripts/bench-server`).

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use stack_server::config::Overrides;

/// Levels of the tree and children per definition: 1 + 3 + 9 + 27 + 81 = 121
/// tree nodes, plus 79 unrelated definitions: 200 in all.
const LEVELS: u32 = 5;
const CHILDREN: usize = 3;
const TOTAL: usize = 200;
const RUNS: usize = 10_000;

fn tree() -> Map<String, Value> {
    let mut permissions = Map::new();
    let mut level: Vec<String> = vec!["root".to_owned()];
    let mut next_id = 0usize;
    for depth in 0..LEVELS {
        let mut next_level = Vec::new();
        for id in &level {
            let children: Vec<String> = if depth + 1 < LEVELS {
                (0..CHILDREN)
                    .map(|_| {
                        next_id += 1;
                        format!("p{next_id}")
                    })
                    .collect()
            } else {
                vec!["$read_members".to_owned()]
            };
            let contained: Map<String, Value> =
                children.iter().map(|c| (c.clone(), json!(true))).collect();
            permissions.insert(
                id.clone(),
                json!({ "scope": "team", "containedPermissionIds": contained }),
            );
            next_level.extend(children.into_iter().filter(|c| !c.starts_with('$')));
        }
        level = next_level;
    }
    while permissions.len() < TOTAL {
        next_id += 1;
        permissions.insert(format!("other{next_id}"), json!({ "scope": "team" }));
    }
    let mut environment = Map::new();
    environment.insert("rbac.permissions".to_owned(), Value::Object(permissions));
    Overrides {
        environment,
        ..Overrides::default()
    }
    .render()
}

fn main() {
    let config = tree();
    let direct = vec!["root".to_owned()];
    let mut samples: Vec<Duration> = Vec::with_capacity(RUNS);
    let mut held = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let closure = stack_server::permissions::closure(&config, &direct);
        if closure.contains("$read_members") {
            held += 1;
        }
        samples.push(t.elapsed());
    }
    assert_eq!(
        held, RUNS,
        "the leaf permission is held through five levels"
    );
    samples.sort();
    let at = |f: f64| samples[((samples.len() - 1) as f64 * f).round() as usize];
    println!(
        "recursive team-permission check, {TOTAL} definitions, {LEVELS} levels, {RUNS} runs: min {:?}, p50 {:?}, p99 {:?}, max {:?}",
        samples[0],
        at(0.5),
        at(0.99),
        samples[samples.len() - 1]
    );
}
