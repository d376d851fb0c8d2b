//! The export pipeline around the SDK's batch processor: a bound on the spans waiting, and
//! counts of what is lost.
//!
//! [`Gate`] counts the spans handed to the batch processor and not yet through an export
//! (queued, batched or being sent); at [`MAX_PENDING`] it drops a finished span itself and
//! counts it, so the processor's own queue (as large) never fills and a drop is never silent.
//! [`Counting`] wraps the OTLP exporter: it releases the spans of each export from that
//! count, and counts a failed export and its spans.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};

use crate::metrics::TracingCounters;

/// Most spans waiting for, or in, an export.
pub const MAX_PENDING: usize = 2048;

/// A span processor that bounds the spans pending in `inner` and counts those it drops.
#[derive(Debug)]
pub struct Gate<P> {
    /// The batch processor.
    pub inner: P,
    /// Spans handed to `inner` and not yet through an export.
    pub pending: Arc<AtomicUsize>,
    /// Counters.
    pub counters: TracingCounters,
}

impl<P: SpanProcessor> SpanProcessor for Gate<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if self.pending.fetch_add(1, Ordering::AcqRel) >= MAX_PENDING {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            self.counters.spans_dropped.inc();
            return;
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// A span exporter that releases each batch from the pending count and counts failures.
#[derive(Debug)]
pub struct Counting<E> {
    /// The OTLP exporter.
    pub inner: E,
    /// Shared with the [`Gate`].
    pub pending: Arc<AtomicUsize>,
    /// Counters.
    pub counters: TracingCounters,
}

impl<E: SpanExporter> SpanExporter for Counting<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        self.pending.fetch_sub(spans, Ordering::AcqRel);
        if let Err(e) = &result {
            self.counters.export_errors.inc();
            self.counters.spans_dropped.inc_by(spans as u64);
            tracing::debug!(error = %e, spans, "span export failed");
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
