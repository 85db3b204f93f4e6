/**
 * Observability: hot-path counters and histograms, the Prometheus catalogue and registry, HTTP
 * middleware, event-loop lag, structured logs and OpenTelemetry tracing.
 *
 * @module
 */

export * from "./counters.ts";
export { EventLoopLagMonitor, type EventLoopLagOptions } from "./event-loop-lag.ts";
export {
  createLogger,
  isLogLevel,
  LOG_LEVELS,
  type Logger,
  type LoggerOptions,
  type LogLevel,
} from "./log.ts";
export {
  createMetrics,
  HTTP_METHODS,
  LABEL_NAMES,
  type LabelName,
  METRICS,
  type Metrics,
  type MetricsOptions,
  type MetricSpec,
  type MetricsSource,
  type MetricType,
  UNMATCHED_ROUTE,
} from "./metrics.ts";
export { metricsMiddleware } from "./metrics-middleware.ts";
export { type ProcessSnapshot, readProcessSnapshot } from "./process-metrics.ts";
export {
  httpSpanMiddleware,
  type SessionEvent,
  SessionTrace,
  type SessionTraceOptions,
  tracer,
} from "./tracing.ts";
