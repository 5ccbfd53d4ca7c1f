//! One store's pass as `once` and the daemon both run it: through the pass
//! limit, boxed, guarded against panics, and recorded in the metrics. The one
//! fan-out step; the callers only decide which stores and what to do after.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;
use tracing::error;

use super::context::Context;
use super::pass::PassOptions;
use super::run::run_pass;
use crate::config::Store;
use crate::report::PassReport;

/// Waits for a pass slot (`None` if `stop` fires first), runs the pass and
/// records it in the metrics.
pub async fn run_in_slot(
    ctx: &Context,
    store: &Store,
    options: PassOptions,
    stop: &CancellationToken,
) -> Option<PassReport> {
    let _permit = tokio::select! {
        permit = std::sync::Arc::clone(&ctx.shared.passes).acquire_owned() => {
            permit.expect("the pass semaphore is never closed")
        }
        () = stop.cancelled() => return None,
    };
    // Boxed: a waiting task stays small; the pass's large state exists only
    // while it runs (10,000 stores wait per tick).
    let report = run_guarded(&store.id, Box::pin(run_pass(ctx, store, options))).await;
    ctx.shared.metrics.record(&report);
    Some(report)
}

/// Runs one pass, turning a panic into a failed report so the daemon lives on.
pub async fn run_guarded<F: Future<Output = PassReport>>(store_id: &str, pass: F) -> PassReport {
    match AssertUnwindSafe(pass).catch_unwind().await {
        Ok(report) => report,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|text| text.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_string());
            error!(
                store = store_id,
                "internal error: the pass panicked: {message}"
            );
            PassReport::failed(
                store_id,
                crate::error::Category::Storage,
                format!("internal error: the pass panicked: {message}"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Outcome;

    #[tokio::test]
    async fn a_panicking_pass_becomes_a_failed_outcome() {
        let report = run_guarded("gangnam", async { panic!("index out of bounds") }).await;
        match report.outcome {
            Outcome::Failed { message, .. } => {
                assert!(message.contains("index out of bounds"), "{message}")
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        let fine = run_guarded("gangnam", async {
            PassReport::failed("gangnam", crate::error::Category::Data, "x".into())
        })
        .await;
        assert!(matches!(
            fine.outcome,
            Outcome::Failed {
                category: crate::error::Category::Data,
                ..
            }
        ));
    }
}
