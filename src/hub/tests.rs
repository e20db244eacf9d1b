//! The hub module's unit tests: URIs, settings, split GGUFs, file picking.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::cache::{shards_of, split_shard};
use super::settings::{parse_timeout, truthy};
use super::*;

fn file(repo: &str, f: &str) -> HubUri {
    HubUri {
        repo: repo.into(),
        revision: None,
        target: Target::File(f.into()),
    }
}

#[test]
fn parses_the_three_forms() {
    assert_eq!(
        parse("hf:ggml-org/Qwen3-Reranker-0.6B-Q8_0-GGUF/qwen3-reranker-0.6b-q8_0.gguf").unwrap(),
        file(
            "ggml-org/Qwen3-Reranker-0.6B-Q8_0-GGUF",
            "qwen3-reranker-0.6b-q8_0.gguf"
        )
    );
    assert_eq!(
        parse("hf:o/r/sub/dir/m.gguf").unwrap(),
        file("o/r", "sub/dir/m.gguf")
    );
    assert_eq!(parse("hf://o/r/m.gguf").unwrap(), file("o/r", "m.gguf"));
    assert_eq!(
        parse("hf:o/r:Q8_0").unwrap(),
        HubUri {
            repo: "o/r".into(),
            revision: None,
            target: Target::Quant("Q8_0".into())
        }
    );
    assert_eq!(
        parse("hf:o/r").unwrap(),
        HubUri {
            repo: "o/r".into(),
            revision: None,
            target: Target::Only
        }
    );
    assert_eq!(parse("hf:o/r:Q8_0").unwrap().to_string(), "hf:o/r:Q8_0");
}

#[test]
fn parses_a_revision_in_every_form() {
    let rev = |uri: &str| {
        let parsed = parse(uri).unwrap();
        assert_eq!(parsed.to_string(), uri);
        (parsed.revision.clone(), parsed.target.clone())
    };
    assert_eq!(
        rev("hf:o/r@v2/sub/m.gguf"),
        (Some("v2".into()), Target::File("sub/m.gguf".into()))
    );
    assert_eq!(
        rev("hf:o/r@main:Q8_0"),
        (Some("main".into()), Target::Quant("Q8_0".into()))
    );
    let commit = "c0ffee0000000000000000000000000000000002";
    assert_eq!(
        rev(&format!("hf:o/r@{commit}")),
        (Some(commit.into()), Target::Only)
    );
    assert_eq!(parse("hf:o/r").unwrap().revision(), "main");
    for bad in [
        "hf:o/r@/m.gguf",
        "hf:o/r@a@b/m.gguf",
        "hf:o/r@:Q8_0",
        "hf:o/r:Q8_0/m.gguf",
    ] {
        assert_eq!(
            parse(bad).unwrap_err().code,
            ErrorCode::InvalidArgument,
            "{bad}"
        );
    }
}

#[test]
fn a_split_gguf_is_every_shard() {
    assert_eq!(
        split_shard("m-Q8_0-00002-of-00003.gguf"),
        Some(("m-Q8_0", 2, 3))
    );
    assert_eq!(split_shard("m-00004-of-00003.gguf"), None);
    assert_eq!(split_shard("m-0001-of-0003.gguf"), None);
    assert_eq!(split_shard("m.gguf"), None);
    assert_eq!(
        shards_of("d/m-00002-of-00003.gguf"),
        [
            "d/m-00001-of-00003.gguf",
            "d/m-00002-of-00003.gguf",
            "d/m-00003-of-00003.gguf"
        ]
    );
    assert_eq!(shards_of("m.gguf"), ["m.gguf"]);
}

#[test]
fn the_timeout_variable_takes_positive_seconds() {
    assert_eq!(parse_timeout(None), Ok(Duration::from_secs(30)));
    assert_eq!(parse_timeout(Some("1.5")), Ok(Duration::from_millis(1500)));
    for bad in ["0", "-1", "soon", "inf", "NaN"] {
        assert!(parse_timeout(Some(bad)).is_err(), "{bad}");
    }
}

#[test]
fn refuses_malformed_uris() {
    for bad in [
        "hf:",
        "hf:owner",
        "hf:/repo/f.gguf",
        "hf:o/../f.gguf",
        "hf:o/r/../f.gguf",
        "hf:o/r//f.gguf",
        "hf:o/r:",
        "hf:o/r:Q8/f.gguf",
        "hf:o w/r/f.gguf",
    ] {
        let e = parse(bad).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidArgument, "{bad}");
    }
    assert!(!is_hub_uri("./hf:model.gguf"));
    assert!(!is_hub_uri("/models/x.gguf"));
}

#[test]
fn plain_paths_are_returned_untouched() {
    assert_eq!(
        resolve_model(
            "fixtures/x.gguf",
            &HubSettings::from_env(),
            &AtomicBool::new(false)
        )
        .unwrap(),
        PathBuf::from("fixtures/x.gguf")
    );
}

fn files(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn picks_the_quant_case_insensitively() {
    let repo = files(&[
        "README.md",
        "model-Q4_K_M.gguf",
        "model-Q4_K.gguf",
        "model-Q8_0.gguf",
        "mmproj-model-Q8_0.gguf",
    ]);
    let quant = |q: &str| pick(&repo, &Target::Quant(q.into()));
    assert_eq!(quant("q8_0").unwrap(), "model-Q8_0.gguf");
    assert_eq!(quant("Q4_K_M").unwrap(), "model-Q4_K_M.gguf");
    assert_eq!(quant("Q4_K").unwrap(), "model-Q4_K.gguf");
    assert_eq!(quant("F16").unwrap_err().code, ErrorCode::ModelNotFound);
    assert_eq!(
        pick(&repo, &Target::Only).unwrap_err().code,
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        pick(&files(&["a/only.gguf", "x.txt"]), &Target::Only).unwrap(),
        "a/only.gguf"
    );
    let ambiguous = files(&["a-Q4_K_S.gguf", "a-Q4_K_M.gguf"]);
    assert_eq!(
        pick(&ambiguous, &Target::Quant("q4_k".into()))
            .unwrap_err()
            .code,
        ErrorCode::InvalidArgument
    );
    // The shards of a split GGUF are one file, named by its first shard.
    let split = files(&[
        "big-Q8_0-00002-of-00002.gguf",
        "big-Q8_0-00001-of-00002.gguf",
        "big-Q4_K_M.gguf",
    ]);
    assert_eq!(
        pick(&split, &Target::Quant("q8_0".into())).unwrap(),
        "big-Q8_0-00001-of-00002.gguf"
    );
    let only = files(&["s/x-00001-of-00002.gguf", "s/x-00002-of-00002.gguf"]);
    assert_eq!(
        pick(&only, &Target::Only).unwrap(),
        "s/x-00001-of-00002.gguf"
    );
}

#[test]
fn truthy_values_follow_huggingface_hub() {
    for v in ["1", "ON", "yes", "True"] {
        assert!(truthy(v));
    }
    for v in ["0", "off", "", "no"] {
        assert!(!truthy(v));
    }
}
