//! The crate's shape, checked on its sources: the layers of `src/` use only the layers before
//! them (so no two depend on each other, tests included), napi appears only in the napi layer,
//! `unsafe` only in the FFI modules, and no file grows past what a reader takes in at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The top-level modules, each allowed to use only the ones before it.
const LAYERS: [&str; 8] = [
    "error", "model", "prompt", "scoring", "llama", "worker", "hub", "node",
];

/// The only files that may hold `unsafe`: llama.cpp's FFI, and napi's conversion trait for
/// `AbortSignal` arguments (an `unsafe fn` by napi's definition).
const UNSAFE_FILES: [&str; 2] = ["src/llama/ffi.rs", "src/node/signal.rs"];

/// Lines a source file may have at most.
const MAX_LINES: usize = 620;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each source file as (path relative to the crate, text), comments left out.
fn sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let code: Vec<&str> = text
                .lines()
                .map(|line| match line.find("//") {
                    Some(at) if !line[..at].contains('"') => &line[..at],
                    _ => line,
                })
                .collect();
            let relative = path.strip_prefix(root()).unwrap();
            (
                relative.to_string_lossy().replace('\\', "/"),
                code.join("\n"),
            )
        })
        .collect()
}

/// The layer a file belongs to (`src/llama/context.rs` → `llama`, `src/error.rs` → `error`);
/// `None` for `src/lib.rs`.
fn layer_of(file: &str) -> Option<&str> {
    let inner = file.strip_prefix("src/")?;
    let top = inner.split('/').next()?;
    let top = top.strip_suffix(".rs").unwrap_or(top);
    (top != "lib").then_some(top)
}

/// The layers a file's code names through `crate::<layer>` or `crate::{<layer>, …}`.
fn used_layers(code: &str) -> Vec<&str> {
    let ident_at = |text: &str| {
        let text = text.trim_start();
        let end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(text.len());
        LAYERS.iter().copied().find(|l| *l == &text[..end])
    };
    let mut used = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            used.extend(ident_at(rest));
            continue;
        };
        // The first name of each top-level item of the group.
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    used.extend(ident_at(&group[start..i]));
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    used.extend(ident_at(&group[start..i]));
                    start = i + 1;
                }
                _ => {}
            }
        }
    }
    used
}

#[test]
fn layers_use_only_the_layers_before_them() {
    let rank = |layer: &str| LAYERS.iter().position(|l| *l == layer);
    let mut uses: BTreeMap<(String, String), String> = BTreeMap::new();
    for (file, code) in sources() {
        let Some(layer) = layer_of(&file) else {
            continue;
        };
        let Some(own) = rank(layer) else {
            panic!("{file}: {layer} is not one of the layers {LAYERS:?}");
        };
        for used in used_layers(&code) {
            let theirs = rank(used).unwrap();
            assert!(
                theirs <= own,
                "{file}: the {layer} layer uses crate::{used}, a layer above it ({LAYERS:?})"
            );
            if used != layer {
                uses.entry((layer.to_owned(), used.to_owned()))
                    .or_insert(file.clone());
            }
        }
    }
    // The order makes cycles impossible; say so directly too.
    for (a, b) in uses.keys() {
        assert!(
            !uses.contains_key(&(b.clone(), a.clone())),
            "{a} and {b} use each other"
        );
    }
}

#[test]
fn napi_is_used_only_in_the_napi_layer() {
    for (file, code) in sources() {
        if file.starts_with("src/node/") || file == "src/lib.rs" {
            continue;
        }
        for needle in ["napi::", "napi_derive", "#[napi"] {
            assert!(!code.contains(needle), "{file} uses napi ({needle})");
        }
    }
}

#[test]
fn unsafe_code_is_only_in_the_ffi_modules() {
    for (file, code) in sources() {
        let has_unsafe = code
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .any(|word| word == "unsafe");
        if has_unsafe {
            assert!(
                UNSAFE_FILES.contains(&file.as_str()),
                "{file} has unsafe code; it belongs in {UNSAFE_FILES:?}"
            );
        }
    }
}

#[test]
fn every_unsafe_says_why_it_is_sound() {
    for file in UNSAFE_FILES {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if !code.contains("unsafe") {
                continue;
            }
            let reason = lines[i.saturating_sub(4)..i]
                .iter()
                .any(|l| l.trim_start().starts_with("// SAFETY:"));
            assert!(
                reason,
                "{file}:{}: no `// SAFETY:` line just before the unsafe code",
                i + 1
            );
        }
    }
}

#[test]
fn no_source_file_is_too_long() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("tests"), &mut files);
    for path in files {
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(
            lines <= MAX_LINES,
            "{}: {lines} lines, over {MAX_LINES}; split it along its sections",
            path.display()
        );
    }
}

#[test]
fn the_check_sees_a_use_of_a_layer() {
    assert_eq!(
        used_layers("use crate::scoring::{ScoringPlan};\nlet x = crate::llama::backend();"),
        ["scoring", "llama"]
    );
    assert_eq!(
        used_layers("use crate::{error::Result, llama::{GATE, ffi}, prompt};"),
        ["error", "llama", "prompt"]
    );
    assert_eq!(layer_of("src/llama/context.rs"), Some("llama"));
    assert_eq!(layer_of("src/error.rs"), Some("error"));
    assert_eq!(layer_of("src/lib.rs"), None);
}
