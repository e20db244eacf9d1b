//! llama.cpp's own prompt-processing rate for a model: the "limit" of the benchmark.
//!
//! Loads MODEL, creates one context with n_batch = n_ubatch = BATCH (one sequence, flash
//! attention off, as llama-rerank runs), then decodes BATCH pseudo-random tokens at positions
//! 0..BATCH once to warm up and REPS more times, clearing the KV cache before each. Encoders
//! (BERT cross-encoders) run with embeddings on and RANK pooling; decoders, whatever their
//! pooling key, run as llama-bench runs them: causal, logits of the last token only (a RANK
//! pooling context would also compute the LM head for every token). Prints one JSON line.
//!
//! ```sh
//! cargo run --release --example pp_rate --no-default-features -- MODEL [--threads 2]
//!     [--batch 512] [--reps 5] [--ctx N] [--mode auto|pooled|causal]
//! ```

use std::num::NonZeroU32;
use std::time::Instant;

use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use llama_rerank::model::inspection::ENCODER_ARCHITECTURES;

struct Args {
    model: String,
    threads: i32,
    batch: u32,
    reps: usize,
    ctx: Option<u32>,
    mode: String,
}

fn parse_args() -> Args {
    let mut args = Args {
        model: String::new(),
        threads: 2,
        batch: 512,
        reps: 5,
        ctx: None,
        mode: "auto".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().unwrap_or_else(|| panic!("{name} needs a value"));
        match a.as_str() {
            "--threads" => args.threads = value("--threads").parse().expect("--threads"),
            "--batch" => args.batch = value("--batch").parse().expect("--batch"),
            "--reps" => args.reps = value("--reps").parse().expect("--reps"),
            "--ctx" => args.ctx = Some(value("--ctx").parse().expect("--ctx")),
            "--mode" => args.mode = value("--mode"),
            _ if args.model.is_empty() && !a.starts_with("--") => args.model = a,
            _ => panic!("unknown argument {a}"),
        }
    }
    assert!(!args.model.is_empty(), "usage: pp_rate MODEL [options]");
    args
}

/// Peak resident set size of this process, from /proc (MiB).
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU time (user + system) of this process so far, from /proc (seconds, 100 ticks a second).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // fields after the command name, which is in parentheses and may hold spaces
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name
    (tick(11) + tick(12)) / 100.0
}

fn main() {
    let args = parse_args();
    // llama-rerank's own start-up: its log handling (LLAMA_RERANK_VERBOSE=1 shows llama.cpp's
    // log) and, in a portable build, the CPU module for this CPU.
    let backend = llama_rerank::llama::ready_backend().expect("llama backend");
    let model = LlamaModel::load_from_file(backend, &args.model, &LlamaModelParams::default())
        .expect("load model");
    let arch = model
        .meta_val_str("general.architecture")
        .unwrap_or_default();
    let pooled = match args.mode.as_str() {
        "pooled" => true,
        "causal" => false,
        // llama-bench's default: decoders run causal (embeddings off, whatever the file's
        // pooling key); an encoder's output exists only pooled.
        _ => ENCODER_ARCHITECTURES.contains(&arch.as_str()),
    };
    let n_batch = args.batch;
    let n_ctx = args.ctx.unwrap_or(n_batch).max(n_batch);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_batch(n_batch)
        .with_n_ubatch(n_batch)
        .with_n_seq_max(1)
        .with_n_threads(args.threads)
        .with_n_threads_batch(args.threads)
        .with_embeddings(pooled)
        .with_pooling_type(if pooled {
            LlamaPoolingType::Rank
        } else {
            LlamaPoolingType::None
        })
        .with_flash_attention_policy(llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED);
    let mut ctx = model.new_context(backend, params).expect("create context");
    let n_vocab = u64::try_from(model.n_vocab()).expect("vocab size");
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next_token = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        // Skip the first 256 ids (bytes), like ordinary text would.
        LlamaToken(i32::try_from(256 + (state >> 33) % (n_vocab - 256)).expect("token id"))
    };
    let mut batch = LlamaBatch::new(n_batch as usize, 1);
    let mut times = Vec::with_capacity(args.reps);
    for rep in 0..=args.reps {
        batch.clear();
        for pos in 0..n_batch {
            let output = pooled || pos == n_batch - 1;
            batch
                .add(next_token(), pos as i32, &[0], output)
                .expect("batch add");
        }
        ctx.clear_kv_cache();
        let t = Instant::now();
        ctx.decode(&mut batch).expect("decode");
        let value = if pooled {
            ctx.embeddings_seq_ith(0).expect("pooled output")[0]
        } else {
            ctx.get_logits_ith(batch.n_tokens() - 1)[0]
        };
        let secs = t.elapsed().as_secs_f64();
        assert!(value.is_finite(), "non-finite output");
        if rep > 0 {
            times.push(secs);
        }
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let total: f64 = times.iter().sum();
    let rates: Vec<String> = times
        .iter()
        .map(|s| format!("{:.1}", f64::from(n_batch) / s))
        .collect();
    println!(
        "{{\"model\":{:?},\"arch\":{:?},\"mode\":{:?},\"threads\":{},\"batch\":{},\"nCtx\":{},\"reps\":{},\
         \"tokensPerSecond\":{:.2},\"meanTokensPerSecond\":{:.2},\"perRep\":[{}],\"peakRssMiB\":{:.1},\"cpuSeconds\":{:.2},\"systemInfo\":{:?}}}",
        args.model,
        arch,
        if pooled { "pooled" } else { "causal" },
        args.threads,
        n_batch,
        n_ctx,
        args.reps,
        f64::from(n_batch) / median,
        f64::from(n_batch) * args.reps as f64 / total,
        rates.join(","),
        peak_rss_mib(),
        cpu_seconds(),
        llama_rerank::llama::placement::system_info()
    );
}
