//! The settings a client is built from: read from Python by field name, checked, turned into a
//! CRT client.
//!
//! Python owns the user-facing rules and the field names (`s3torch._settings.ClientSettings`,
//! resolved from `S3ClientConfig` and the environment). This module reads that one object by
//! field name and keeps only the invariants the CRT would otherwise get wrong (ranges, header
//! text, conflicting credentials), naming the field as Python does: a value of the wrong type is
//! a `TypeError`, one out of range a `ValueError`. tests/test_settings_contract.py feeds every
//! bad value to both layers and checks that they agree.

use crate::checks::check_header_text;
use crate::errors::{describe_chain, Error, ErrorKind, Result, Target};
use crate::metrics::{Metrics, Telemetry};
use crate::wait::Limits;
use mountpoint_s3_client::config::{
    AddressingStyle, Allocator, CredentialsProvider, CredentialsProviderStaticOptions, EndpointConfig,
    S3ClientAuthConfig, S3ClientConfig, TlsConfig, Uri,
};
use mountpoint_s3_client::user_agent::UserAgent;
use mountpoint_s3_client::{NewClientError, S3CrtClient};
use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

pub const MIB: usize = 1024 * 1024;
pub const MIN_PART_SIZE: usize = 5 * MIB;
pub const MAX_PART_SIZE: usize = 5 * 1024 * MIB;
/// The CRT's retry strategy refuses more than 63 retries.
pub const MAX_ATTEMPTS: usize = 64;
pub const MAX_THROUGHPUT_GBPS: f64 = 400.0;
/// Below this the CRT could not keep one part in flight.
pub const MIN_READ_WINDOW: usize = MIB;

/// Static credentials. Never printed.
#[derive(Clone)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticCredentials(** redacted **)")
    }
}

/// Everything a client is built from, already resolved (region, endpoint, profile) by Python.
/// Field names are those of `ClientSettings`, and of `S3ClientConfig` where the two share one.
#[derive(Clone, Debug)]
pub struct Settings {
    pub region: String,
    pub endpoint: Option<String>,
    pub user_agent_prefix: String,
    pub throughput_target_gbps: f64,
    pub part_size: usize,
    /// The profile credentials come from (None: static keys, unsigned, or the default chain).
    pub profile: Option<String>,
    pub unsigned: bool,
    pub force_path_style: bool,
    pub max_attempts: usize,
    pub credentials: Option<StaticCredentials>,
    pub requester_pays: bool,
    pub ca_bundle: Option<String>,
    pub upload_checksum: bool,
    pub read_window: usize,
    /// Longest wait for one step of an operation, in seconds; `None`: no limit of our own.
    pub stall_timeout_s: Option<f64>,
    /// How long every connection may be refused before a request gives up, in seconds;
    /// `None`: as long as `max_attempts` allows.
    pub connect_refused_timeout_s: Option<f64>,
}

/// What a field accepts, for its out-of-range message: one text per field, used whether the
/// value was refused while read from Python or by [`Settings::validate`].
fn allowed(field: &str) -> String {
    match field {
        "part_size" => format!("must be between 5 MiB ({MIN_PART_SIZE}) and 5 GiB ({MAX_PART_SIZE})"),
        "max_attempts" => format!("must be between 1 and {MAX_ATTEMPTS} (total attempts, including the first)"),
        "throughput_target_gbps" => format!("must be finite, greater than 0 and at most {MAX_THROUGHPUT_GBPS}"),
        "read_window" => format!("must be at least 1 MiB ({MIN_READ_WINDOW})"),
        "stall_timeout_s" | "connect_refused_timeout_s" => {
            "must be a finite number of seconds greater than 0, or None for no limit".to_owned()
        }
        _ => "see the documentation of S3ClientConfig".to_owned(),
    }
}

fn out_of_range(field: &str, shown: impl fmt::Display) -> Error {
    Error::invalid(format!("{field}={shown} is out of range: {}", allowed(field)))
}

impl Settings {
    /// Read the settings from a Python object by field name (`s3torch._settings.ClientSettings`,
    /// or anything with the same attributes), checking each value's type and then the whole.
    pub fn from_python(source: &Bound<'_, PyAny>) -> PyResult<Self> {
        let fields = Fields(source);
        let credentials = match (
            fields.optional_text("access_key_id")?,
            fields.optional_text("secret_access_key")?,
            fields.optional_text("session_token")?,
        ) {
            (None, None, None) => None,
            (Some(access_key_id), Some(secret_access_key), session_token) => Some(StaticCredentials {
                access_key_id,
                secret_access_key,
                session_token,
            }),
            (Some(_), None, _) => {
                return Err(Error::invalid(
                    "access_key_id was given without secret_access_key: static credentials need both",
                )
                .into())
            }
            (None, Some(_), _) => {
                return Err(Error::invalid(
                    "secret_access_key was given without access_key_id: static credentials need both",
                )
                .into())
            }
            (None, None, Some(_)) => {
                return Err(Error::invalid(
                    "session_token was given without access_key_id and secret_access_key: a session token is \
                     only used together with them",
                )
                .into())
            }
        };
        let upload_checksum = match fields.optional_text("upload_checksum")?.as_deref() {
            None => false,
            Some("crc32c") => true,
            Some(other) => {
                return Err(Error::invalid(format!(
                    "upload_checksum={other:?} is not supported: must be 'crc32c' or None"
                ))
                .into())
            }
        };
        let settings = Self {
            region: fields.text("region")?,
            endpoint: fields.optional_text("endpoint")?,
            user_agent_prefix: fields.text("user_agent_prefix")?,
            throughput_target_gbps: fields.number("throughput_target_gbps")?,
            part_size: fields.whole("part_size")?,
            profile: fields.optional_text("profile")?,
            unsigned: fields.flag("unsigned")?,
            force_path_style: fields.flag("force_path_style")?,
            max_attempts: fields.whole("max_attempts")?,
            credentials,
            requester_pays: fields.flag("requester_pays")?,
            ca_bundle: fields.optional_text("ca_bundle")?,
            upload_checksum,
            read_window: fields.whole("read_window")?,
            stall_timeout_s: fields.optional_number("stall_timeout_s")?,
            connect_refused_timeout_s: fields.optional_number("connect_refused_timeout_s")?,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Check every value the CRT would misbehave on, naming the field and its allowed range.
    pub fn validate(&self) -> Result<()> {
        if self.region.trim().is_empty() {
            return Err(Error::invalid("region must be a non-empty string, e.g. 'us-east-1'"));
        }
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&self.part_size) {
            return Err(out_of_range("part_size", self.part_size));
        }
        let gbps = self.throughput_target_gbps;
        if !(gbps.is_finite() && gbps > 0.0 && gbps <= MAX_THROUGHPUT_GBPS) {
            return Err(out_of_range("throughput_target_gbps", gbps));
        }
        if !(1..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            return Err(out_of_range("max_attempts", self.max_attempts));
        }
        // The CRT client reads AWS_MAX_ATTEMPTS itself, and it overrides `max_attempts`.
        if let Ok(text) = std::env::var("AWS_MAX_ATTEMPTS") {
            if let Ok(attempts) = text.trim().parse::<usize>() {
                if attempts > MAX_ATTEMPTS {
                    return Err(Error::invalid(format!(
                        "AWS_MAX_ATTEMPTS={attempts} (from the environment) is out of range: must be at most {MAX_ATTEMPTS}"
                    )));
                }
            }
        }
        if self.read_window < MIN_READ_WINDOW {
            return Err(out_of_range("read_window", self.read_window));
        }
        for (field, limit) in [
            ("stall_timeout_s", self.stall_timeout_s),
            ("connect_refused_timeout_s", self.connect_refused_timeout_s),
        ] {
            if let Some(seconds) = limit {
                if !(seconds.is_finite() && seconds > 0.0) {
                    return Err(out_of_range(field, seconds));
                }
            }
        }
        // These go into HTTP headers: a control character would make every request fail late.
        let credentials = self.credentials.as_ref();
        let header_texts = [
            ("region", Some(self.region.as_str()), true),
            ("user_agent_prefix", Some(self.user_agent_prefix.as_str()), true),
            ("profile", self.profile.as_deref(), true),
            ("endpoint", self.endpoint.as_deref(), true),
            ("access_key_id", credentials.map(|c| c.access_key_id.as_str()), false),
            (
                "secret_access_key",
                credentials.map(|c| c.secret_access_key.as_str()),
                false,
            ),
            (
                "session_token",
                credentials.and_then(|c| c.session_token.as_deref()),
                false,
            ),
        ];
        for (field, text, show) in header_texts {
            if let Some(text) = text {
                check_header_text(field, text, show)?;
            }
        }
        if let Some(endpoint) = &self.endpoint {
            let authority = endpoint
                .split("://")
                .nth(1)
                .unwrap_or(endpoint)
                .split('/')
                .next()
                .unwrap_or("");
            if authority.contains('@') {
                return Err(Error::invalid(
                    "endpoint must not contain a user name or password (give credentials as \
                     access_key_id/secret_access_key, a profile or the environment)",
                ));
            }
        }
        if self.unsigned && self.credentials.is_some() {
            return Err(Error::invalid(
                "unsigned=True conflicts with static credentials (access_key_id): an unsigned client sends none",
            ));
        }
        if self.unsigned && self.profile.is_some() {
            return Err(Error::invalid(
                "unsigned=True conflicts with a credentials profile: an unsigned client sends no credentials",
            ));
        }
        Ok(())
    }

    pub fn user_agent(&self) -> String {
        let ours = format!("s3torch/{}", env!("CARGO_PKG_VERSION"));
        match self.user_agent_prefix.trim() {
            "" => ours,
            prefix => format!("{prefix} {ours}"),
        }
    }

    /// The limits of every wait (a huge number of seconds means no limit).
    pub fn limits(&self, metrics: &Metrics) -> Limits {
        let seconds = |limit: Option<f64>| limit.and_then(|s| Duration::try_from_secs_f64(s).ok());
        Limits {
            stall: seconds(self.stall_timeout_s),
            refused: seconds(self.connect_refused_timeout_s),
            connections: metrics.connections.clone(),
        }
    }

    /// The URL requests go to: the custom endpoint, or AWS's regional one.
    pub fn endpoint_url(&self) -> String {
        match &self.endpoint {
            Some(endpoint) => endpoint.clone(),
            None => format!("https://s3.{}.amazonaws.com", self.region),
        }
    }

    /// The size of the CRT's memory pool to ask for, when the CRT's own choice is too small.
    ///
    /// Every part a GET receives waits in the pool until it is read, and each stream fetches up
    /// to `read_window` ahead. The CRT sizes the pool from the throughput target: 2 GiB from
    /// 10 Gbps (the default target), but 256 MiB below 5 Gbps, of which 128 MiB are usable: one
    /// stream left open after its first read fills that, and the next waits for room until its
    /// stall timeout. The pool allocates as it is used, so a larger limit costs no memory until
    /// streams need it. `AWS_CRT_S3_MEMORY_LIMIT_IN_MB` or `_IN_GIB`, when set, win (the CRT
    /// reads them when no limit is given).
    fn pool_limit(&self) -> Option<u64> {
        const POOL_AT_DEFAULT_TARGET: u64 = 2 << 30;
        const DEFAULT_TARGET_GBPS: f64 = 10.0;
        let from_environment = ["AWS_CRT_S3_MEMORY_LIMIT_IN_MB", "AWS_CRT_S3_MEMORY_LIMIT_IN_GIB"]
            .iter()
            .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()));
        (!from_environment && self.throughput_target_gbps < DEFAULT_TARGET_GBPS).then_some(POOL_AT_DEFAULT_TARGET)
    }

    /// Build a CRT client that counts its requests into `metrics`. Slow (it starts the CRT's
    /// threads): call it with the GIL released.
    pub fn build(&self, metrics: &Arc<Metrics>) -> Result<S3CrtClient> {
        self.validate()?;
        let allocator = Allocator::default();
        let mut endpoint_config = EndpointConfig::new(&self.region);
        if let Some(endpoint) = &self.endpoint {
            let uri = Uri::new_from_str(&allocator, endpoint)
                .map_err(|e| Error::invalid(format!("endpoint {endpoint:?} is not a valid URL: {e}")))?;
            endpoint_config = endpoint_config.endpoint(uri);
        }
        if self.force_path_style {
            endpoint_config = endpoint_config.addressing_style(AddressingStyle::Path);
        }
        let auth = if self.unsigned {
            S3ClientAuthConfig::NoSigning
        } else if let Some(credentials) = &self.credentials {
            crate::logging::redact(&credentials.secret_access_key);
            if let Some(token) = &credentials.session_token {
                crate::logging::redact(token);
            }
            let provider = CredentialsProvider::new_static(
                &allocator,
                CredentialsProviderStaticOptions {
                    access_key_id: &credentials.access_key_id,
                    secret_access_key: &credentials.secret_access_key,
                    session_token: credentials.session_token.as_deref(),
                },
            )
            .map_err(|e| Error::invalid(format!("static credentials were rejected: {e}")))?;
            S3ClientAuthConfig::Provider(provider)
        } else if let Some(profile) = &self.profile {
            S3ClientAuthConfig::Profile(profile.clone())
        } else {
            S3ClientAuthConfig::Default
        };
        let max_attempts = NonZeroUsize::new(self.max_attempts).ok_or_else(|| out_of_range("max_attempts", 0))?;
        let mut config = S3ClientConfig::new()
            .endpoint_config(endpoint_config)
            .auth_config(auth)
            .part_size(self.part_size)
            .throughput_target_gbps(self.throughput_target_gbps)
            .max_attempts(max_attempts)
            .user_agent(UserAgent::new(Some(self.user_agent())))
            .read_backpressure(true)
            .initial_read_window(self.read_window)
            .telemetry_callback(Arc::new(Telemetry(metrics.clone())));
        if let Some(limit) = self.pool_limit() {
            config = config.memory_limit_in_bytes(limit);
        }
        if self.requester_pays {
            config = config.request_payer("requester");
        }
        if let Some(ca_bundle) = &self.ca_bundle {
            config = config.tls_config(TlsConfig::new().with_trust_store_path(ca_bundle));
        }
        // The crate unwraps some CRT results while building; never let that reach Python.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| S3CrtClient::new(config)))
            .map_err(|_| Error::invalid("the CRT refused this client configuration (see the message above)"))?
            .map_err(|e| self.construction_error(e))
    }

    fn construction_error(&self, error: NewClientError) -> Error {
        let detail = describe_chain(&error);
        match error {
            NewClientError::ProviderFailure(_) => Error::request(
                ErrorKind::Credentials,
                "CreateClient",
                Target::default(),
                format!(
                    "credentials could not be loaded (profile {:?}): {detail}",
                    self.profile.as_deref().unwrap_or("default")
                ),
            ),
            NewClientError::TlsConfigValidationError(_) | NewClientError::TlsConfigurationError(_) => {
                Error::invalid(format!(
                    "ca_bundle {:?} cannot be used: {detail}",
                    self.ca_bundle.as_deref().unwrap_or_default()
                ))
            }
            _ => Error::invalid(format!("invalid client configuration: {detail}")),
        }
    }
}

/// The fields of a Python settings object, each read with its type checked and named.
struct Fields<'a, 'py>(&'a Bound<'py, PyAny>);

impl<'py> Fields<'_, 'py> {
    fn get(&self, field: &str) -> PyResult<Bound<'py, PyAny>> {
        self.0.getattr(field).map_err(|_| {
            PyTypeError::new_err(format!(
                "the client settings have no field {field} (expected an s3torch._settings.ClientSettings)"
            ))
        })
    }

    fn wrong_type(field: &str, expected: &str, value: &Bound<'py, PyAny>) -> PyErr {
        let type_name = value
            .get_type()
            .name()
            .map_or_else(|_| "?".to_owned(), |name| name.to_string());
        PyTypeError::new_err(format!("{field} must be {expected}, not {type_name}"))
    }

    fn text(&self, field: &str) -> PyResult<String> {
        let value = self.get(field)?;
        if !value.is_instance_of::<PyString>() {
            return Err(Self::wrong_type(field, "a str", &value));
        }
        value.extract()
    }

    fn optional_text(&self, field: &str) -> PyResult<Option<String>> {
        let value = self.get(field)?;
        if value.is_none() {
            return Ok(None);
        }
        if !value.is_instance_of::<PyString>() {
            return Err(Self::wrong_type(field, "a str or None", &value));
        }
        let text: String = value.extract()?;
        if text.is_empty() {
            return Err(Error::invalid(format!("{field} must not be an empty string (None means not set)")).into());
        }
        Ok(Some(text))
    }

    fn flag(&self, field: &str) -> PyResult<bool> {
        let value = self.get(field)?;
        if !value.is_instance_of::<PyBool>() {
            return Err(Self::wrong_type(field, "a bool (True or False)", &value));
        }
        value.extract()
    }

    /// A whole number (never a bool); one that does not fit is out of range, not a type error.
    fn whole(&self, field: &str) -> PyResult<usize> {
        let value = self.get(field)?;
        if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
            return Err(Self::wrong_type(field, "an int", &value));
        }
        match value.extract::<usize>() {
            Ok(whole) => Ok(whole),
            Err(error) if error.is_instance_of::<PyOverflowError>(value.py()) => {
                let shown = if value.lt(0)? {
                    "a negative int"
                } else {
                    "a very large int"
                };
                Err(out_of_range(field, shown).into())
            }
            Err(error) => Err(error),
        }
    }

    /// An int or a float (never a bool); an int too large for a float is out of range.
    fn number(&self, field: &str) -> PyResult<f64> {
        let value = self.get(field)?;
        if value.is_instance_of::<PyBool>() || !(value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>()) {
            return Err(Self::wrong_type(field, "a number", &value));
        }
        match value.extract::<f64>() {
            Ok(number) => Ok(number),
            Err(error) if error.is_instance_of::<PyOverflowError>(value.py()) => {
                Err(out_of_range(field, "a very large int").into())
            }
            Err(error) => Err(error),
        }
    }

    fn optional_number(&self, field: &str) -> PyResult<Option<f64>> {
        if self.get(field)?.is_none() {
            return Ok(None);
        }
        self.number(field).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn settings() -> Settings {
        Settings {
            region: "us-east-1".into(),
            endpoint: None,
            user_agent_prefix: String::new(),
            throughput_target_gbps: 10.0,
            part_size: 8 * MIB,
            profile: None,
            unsigned: false,
            force_path_style: false,
            max_attempts: 10,
            credentials: None,
            requester_pays: false,
            ca_bundle: None,
            upload_checksum: true,
            read_window: 64 * MIB,
            stall_timeout_s: Some(120.0),
            connect_refused_timeout_s: Some(5.0),
        }
    }

    fn rejected(s: Settings, field: &str) {
        match s.validate() {
            Err(Error::InvalidArgument(message)) => assert!(message.contains(field), "{message}"),
            other => panic!("expected {field} to be rejected, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_valid() {
        assert!(settings().validate().is_ok());
    }

    #[test]
    fn out_of_range_values_name_their_field() {
        let cases: [(Settings, &str); 9] = [
            (
                Settings {
                    part_size: MIN_PART_SIZE - 1,
                    ..settings()
                },
                "part_size",
            ),
            (
                Settings {
                    part_size: MAX_PART_SIZE + 1,
                    ..settings()
                },
                "part_size",
            ),
            (
                Settings {
                    max_attempts: 0,
                    ..settings()
                },
                "max_attempts",
            ),
            (
                Settings {
                    max_attempts: MAX_ATTEMPTS + 1,
                    ..settings()
                },
                "max_attempts",
            ),
            (
                Settings {
                    throughput_target_gbps: f64::NAN,
                    ..settings()
                },
                "throughput_target_gbps",
            ),
            (
                Settings {
                    throughput_target_gbps: 0.0,
                    ..settings()
                },
                "throughput_target_gbps",
            ),
            (
                Settings {
                    read_window: 1,
                    ..settings()
                },
                "read_window",
            ),
            (
                Settings {
                    stall_timeout_s: Some(0.0),
                    ..settings()
                },
                "stall_timeout_s",
            ),
            (
                Settings {
                    region: " ".into(),
                    ..settings()
                },
                "region",
            ),
        ];
        for (s, field) in cases {
            rejected(s, field);
        }
    }

    #[test]
    fn boundaries_are_accepted() {
        for s in [
            Settings {
                part_size: MIN_PART_SIZE,
                ..settings()
            },
            Settings {
                part_size: MAX_PART_SIZE,
                ..settings()
            },
            Settings {
                max_attempts: 1,
                ..settings()
            },
            Settings {
                max_attempts: MAX_ATTEMPTS,
                ..settings()
            },
            Settings {
                read_window: MIN_READ_WINDOW,
                ..settings()
            },
        ] {
            assert!(s.validate().is_ok(), "{s:?}");
        }
    }

    #[test]
    fn unsigned_with_credentials_names_both() {
        let s = Settings {
            unsigned: true,
            credentials: Some(StaticCredentials {
                access_key_id: "AKID".into(),
                secret_access_key: "SECRET".into(),
                session_token: None,
            }),
            ..settings()
        };
        rejected(s.clone(), "unsigned");
        rejected(s, "access_key_id");
    }

    #[test]
    fn credentials_are_never_printed() {
        let s = Settings {
            credentials: Some(StaticCredentials {
                access_key_id: "AKIDSECRET".into(),
                secret_access_key: "VERYSECRET".into(),
                session_token: Some("TOKENSECRET".into()),
            }),
            ..settings()
        };
        let printed = format!("{s:?}");
        assert!(!printed.contains("SECRET"), "{printed}");
    }

    #[test]
    fn user_agent_names_s3torch_after_the_caller_prefix() {
        assert!(settings().user_agent().starts_with("s3torch/"));
        let s = Settings {
            user_agent_prefix: "myjob/1".into(),
            ..settings()
        };
        assert!(s.user_agent().starts_with("myjob/1 s3torch/"));
    }
}
