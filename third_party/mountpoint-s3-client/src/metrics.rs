// S3 metric name constants
pub const S3_REQUEST_COUNT: &str = "s3.request_count";
pub const S3_REQUEST_ERRORS: &str = "s3.request_errors";
pub const S3_REQUEST_CANCELED: &str = "s3.request_canceled";
pub const S3_REQUEST_TOTAL_LATENCY: &str = "s3.request_total_latency";
pub const S3_REQUEST_FIRST_BYTE_LATENCY: &str = "s3.request_first_byte_latency";

// S3 attribute constants
pub const ATTR_S3_REQUEST: &str = "s3_request";
pub const ATTR_HTTP_STATUS: &str = "http_status";
