//! `twostep_log_lines_dropped_total`: log lines the writer thread could not keep up with
//! ([`crate::telemetry`]), read at each scrape. Non-zero means the log destination is slower
//! than the service's logging: lines were dropped rather than requests slowed.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

#[derive(Debug)]
pub(super) struct DroppedLogLines;

impl Collector for DroppedLogLines {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let counter = ConstCounter::new(crate::telemetry::dropped_log_lines());
        let metric = encoder.encode_descriptor(
            "twostep_log_lines_dropped",
            "Log lines dropped because the log writer fell behind",
            None,
            MetricType::Counter,
        )?;
        counter.encode(metric)
    }
}
