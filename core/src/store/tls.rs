//! What the network stores trust for TLS (`rediss://`, PostgreSQL's `sslmode`): the bundled web
//! PKI roots, the system's roots (`SSL_CERT_FILE`, `SSL_CERT_DIR` and the system store, as
//! `rustls-native-certs` finds them), and a CA file of the user's: the URL's `ca_file=`
//! parameter, else the [`CA_FILE_ENV`] environment variable. rustls with ring only.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::error::Result;
use crate::store::store_error;

/// The environment variable naming a CA file (PEM) that the network stores trust beside the web
/// PKI and system roots, when their URL has no `ca_file=` parameter.
pub const CA_FILE_ENV: &str = "IOP_STORE_CA_FILE";

/// The CA file to trust: `from_url` (a URL's `ca_file=`), else [`CA_FILE_ENV`] when set and not
/// blank.
pub(crate) fn ca_file(from_url: Option<&str>) -> Option<PathBuf> {
    from_url
        .map(PathBuf::from)
        .or_else(|| std::env::var_os(CA_FILE_ENV).map(PathBuf::from))
        .filter(|path| !path.as_os_str().is_empty())
}

/// The system's roots, read once per process. Certificates that cannot be read are skipped
/// (and logged): one bad file in the system's store must not stop every TLS connection.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            log::debug!("a system root certificate was skipped: {error}");
        }
        found.certs
    })
}

/// Every root certificate a store trusts: the web PKI's, the system's, then those of `ca_file`
/// and of `extra_pem` (PEM bytes given by the caller). A CA file that cannot be read or holds
/// no certificate is an error (never a silent fallback to the other roots).
pub(crate) fn root_certificates(
    ca_file: Option<&Path>,
    extra_pem: Option<&[u8]>,
) -> Result<Vec<CertificateDer<'static>>> {
    let mut roots: Vec<CertificateDer<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|cert| cert.clone().into_owned())
        .collect();
    roots.extend(system_roots().iter().cloned());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            store_error(
                "",
                format!("cannot read the CA file {}: {e}", path.display()),
            )
        })?;
        roots.extend(pem_certificates(&pem, &path.display().to_string())?);
    }
    if let Some(pem) = extra_pem {
        roots.extend(pem_certificates(pem, "the root certificate given")?);
    }
    Ok(roots)
}

/// The certificates of a PEM text (`what`: where it comes from, for messages); none is an
/// error.
fn pem_certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| store_error("", format!("{what} is not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(store_error(
            "",
            format!("{what} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
        ));
    }
    Ok(certs)
}

/// `certs` as one PEM text (what the Redis client takes).
#[cfg(feature = "redis")]
pub(crate) fn to_pem(certs: &[CertificateDer<'_>]) -> Vec<u8> {
    use base64::Engine;
    let mut pem = String::new();
    for cert in certs {
        let body = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem.into_bytes()
}

/// A rustls root store of `certs`; certificates rustls cannot use as roots are skipped.
#[cfg(feature = "postgres")]
pub(crate) fn root_store(certs: Vec<CertificateDer<'static>>) -> rustls::RootCertStore {
    let mut store = rustls::RootCertStore::empty();
    let (_added, skipped) = store.add_parsable_certificates(certs);
    if skipped > 0 {
        log::debug!("{skipped} root certificates rustls cannot use were skipped");
    }
    store
}

#[cfg(test)]
mod tests {
    use super::{ca_file, root_certificates};

    #[test]
    fn a_ca_file_that_is_missing_or_holds_no_certificate_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let error = root_certificates(Some(&missing), None).unwrap_err();
        assert!(error.to_string().contains("missing.pem"), "{error}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        let error = root_certificates(Some(&empty), None).unwrap_err();
        assert!(error.to_string().contains("no PEM certificate"), "{error}");
        assert!(!root_certificates(None, None).unwrap().is_empty());
        assert_eq!(ca_file(Some("/x.pem")).unwrap().to_str(), Some("/x.pem"));
    }
}
