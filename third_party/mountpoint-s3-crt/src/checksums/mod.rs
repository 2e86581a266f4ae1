//! Implementation of CRT checksums.

/// CRC32 checksums
pub mod crc32;

/// CRC32C checksums
pub mod crc32c;

/// CRC64NVME checksums
pub mod crc64nvme;

/// SHA1 checksums
pub mod sha1;

/// SHA256 checksums
pub mod sha256;
