//! Every case of `tests/data/vectors/sign.json` (and of each file named in `IOP_EXTRA_VECTORS`),
//! each as its own test driven by the data, plus the negative vectors of `must_not_match`
//! reproduced by deliberately wrong signers.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed expectation is the failure

use std::path::PathBuf;

use iop_core::{AppSecret, SignMethod, sign, string_to_sign};
use serde_json::Value;

/// The repository's vector file, copied from the vendor SDKs' signatures (`tests/data/README.md`).
fn vector_file() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/vectors/sign.json"
    ))
}

/// More vector files of the same format, `IOP_EXTRA_VECTORS=FILE[:FILE…]`, read at run time.
fn extra_vector_files() -> Vec<PathBuf> {
    std::env::var_os("IOP_EXTRA_VECTORS")
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn read_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The repository's file with the vectors and `must_not_match` entries of every extra file
/// appended: each extra vector becomes a test of its own.
fn load() -> Value {
    let mut file = read_json(&vector_file());
    for extra in extra_vector_files() {
        let more = read_json(&extra);
        for list in ["vectors", "must_not_match"] {
            if let Some(items) = more[list].as_array() {
                match file[list].as_array_mut() {
                    Some(ours) => ours.extend(items.iter().cloned()),
                    None => file[list] = Value::Array(items.clone()),
                }
            }
        }
    }
    file
}

fn vectors(file: &Value) -> &Vec<Value> {
    file["vectors"].as_array().expect("`vectors` is an array")
}

/// A vector's params as pairs, after its empty-value policy: values that are JSON strings are
/// taken raw, numbers and booleans as their JSON text, `null` is absent (never stringified).
fn params_of(case: &Value) -> Vec<(String, String)> {
    let policy = case["empty_value_policy"].as_str().unwrap_or("include");
    let skip_empty = match policy {
        "include" => false,
        "skip" => true,
        other => panic!("unknown empty_value_policy {other:?}"),
    };
    case["params"]
        .as_object()
        .expect("params is an object")
        .iter()
        .filter_map(|(k, v)| {
            let v = match v {
                Value::Null => return None,
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (!(skip_empty && v.trim().is_empty())).then(|| (k.clone(), v))
        })
        .collect()
}

fn prefix_of(case: &Value) -> String {
    case["sign_prefix"].as_str().unwrap_or("").to_owned()
}

fn method_of(case: &Value) -> SignMethod {
    let m = case["sign_method"].as_str().unwrap_or("sha256");
    SignMethod::parse(m).unwrap_or_else(|| panic!("unknown sign_method {m:?}"))
}

fn find<'a>(file: &'a Value, name: &str) -> &'a Value {
    vectors(file)
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no vector named {name:?} in {}", vector_file().display()))
}

/// Checks one case: string-to-sign, signature, its length and case, and that it is none of the
/// must-not-match signatures.
fn check_case(file: &Value, case: &Value) {
    let name = case["name"].as_str().unwrap_or("?");
    let pairs = params_of(case);
    let prefix = prefix_of(case);
    let method = method_of(case);
    let secret = AppSecret::new(case["secret"].as_str().expect("secret"));

    if let Some(expected) = case["string_to_sign"].as_str() {
        assert_eq!(
            string_to_sign(&prefix, &pairs),
            expected,
            "{name}: string_to_sign"
        );
    }
    let got = sign(method, &secret, &prefix, &pairs);
    let expected = case["expected_sign"].as_str().expect("expected_sign");
    assert_eq!(got, expected, "{name}: sign");
    let len = match method {
        SignMethod::Sha256 => 64,
        SignMethod::Md5 => 32,
    };
    assert_eq!(got.len(), len, "{name}: signature length");
    assert!(
        got.bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
        "{name}: uppercase hex"
    );
    for wrong in file["must_not_match"].as_array().into_iter().flatten() {
        assert_ne!(
            Some(got.as_str()),
            wrong["sign"].as_str(),
            "{name} matches {}",
            wrong["name"]
        );
    }
    // Insertion order never matters.
    let mut reversed = pairs.clone();
    reversed.reverse();
    assert_eq!(
        sign(method, &secret, &prefix, &reversed),
        got,
        "{name}: order"
    );
}

/// One trial per case of the file, named after it: cases added to the file (or a reviewer's
/// extra vector file through `IOP_EXTRA_VECTORS`) become tests of their own with no code change.
fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let file = std::sync::Arc::new(load());
    let mut trials: Vec<libtest_mimic::Trial> = vectors(&file)
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let name = case["name"].as_str().unwrap_or("unnamed").to_owned();
            let file = std::sync::Arc::clone(&file);
            libtest_mimic::Trial::test(format!("vector::{name}"), move || {
                run_trial(|| check_case(&file, &vectors(&file)[i]))
            })
        })
        .collect();
    let named: [(&str, fn()); 3] = [
        ("the_file_has_cases", the_file_has_cases),
        (
            "no_expected_signature_is_a_must_not_match_signature",
            no_expected_signature_is_a_must_not_match_signature,
        ),
        (
            "must_not_match_variants_differ_from_the_right_signature",
            must_not_match_variants_differ_from_the_right_signature,
        ),
    ];
    trials.extend(
        named
            .into_iter()
            .map(|(name, f)| libtest_mimic::Trial::test(name, move || run_trial(f))),
    );
    libtest_mimic::run(&args, trials).exit();
}

/// Runs a check that fails by panicking, as `#[test]` functions do.
fn run_trial(f: impl FnOnce() + std::panic::UnwindSafe) -> Result<(), libtest_mimic::Failed> {
    std::panic::catch_unwind(f).map_err(|e| {
        let text = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "panicked".to_owned());
        libtest_mimic::Failed::from(text)
    })
}

fn the_file_has_cases() {
    let file = load();
    assert!(!vectors(&file).is_empty(), "sign.json holds no vectors");
}

fn no_expected_signature_is_a_must_not_match_signature() {
    let file = load();
    let wrong: Vec<&str> = file["must_not_match"]
        .as_array()
        .expect("must_not_match")
        .iter()
        .map(|w| w["sign"].as_str().expect("sign"))
        .collect();
    assert!(!wrong.is_empty());
    for case in vectors(&file) {
        let expected = case["expected_sign"].as_str().expect("expected_sign");
        assert!(
            !wrong.contains(&expected),
            "{} expects a wrong signature",
            case["name"]
        );
    }
}

// Deliberately wrong signers, one per mistake named in `must_not_match`.

fn hmac_upper(secret: &str, input: &str) -> String {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(input.as_bytes());
    hex::encode_upper(mac.finalize().into_bytes())
}

fn wrong_case_insensitive_sort(prefix: &str, pairs: &[(String, String)], secret: &str) -> String {
    let mut sorted = pairs.to_vec();
    sorted.sort_by_key(|(k, _)| k.to_lowercase());
    let mut input = prefix.to_owned();
    for (k, v) in &sorted {
        input.push_str(k);
        input.push_str(v);
    }
    hmac_upper(secret, &input)
}

fn wrong_url_encoded_values(prefix: &str, pairs: &[(String, String)], secret: &str) -> Vec<String> {
    // Both ways SDKs percent-encode: form style (space as `+`) and RFC 3986 style (`%20`).
    let form: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                form_urlencoded::byte_serialize(v.as_bytes()).collect(),
            )
        })
        .collect();
    let rfc: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| (k.clone(), v.replace('+', "%20")))
        .collect();
    [form, rfc]
        .iter()
        .map(|p| hmac_upper(secret, &string_to_sign(prefix, p)))
        .collect()
}

fn wrong_lowercase_hex(prefix: &str, pairs: &[(String, String)], secret: &AppSecret) -> String {
    sign(SignMethod::Sha256, secret, prefix, pairs).to_lowercase()
}

fn must_not_match_variants_differ_from_the_right_signature() {
    let file = load();
    let base_name = file["must_not_match_base"]
        .as_str()
        .expect("must_not_match_base");
    let base = find(&file, base_name);
    let pairs = params_of(base);
    let prefix = prefix_of(base);
    let secret_text = base["secret"].as_str().expect("secret");
    let secret = AppSecret::new(secret_text);
    let right = sign(method_of(base), &secret, &prefix, &pairs);
    assert_eq!(
        right,
        base["expected_sign"].as_str().expect("expected_sign")
    );

    let case_insensitive = wrong_case_insensitive_sort(&prefix, &pairs, secret_text);
    let url_encoded = wrong_url_encoded_values(&prefix, &pairs, secret_text);
    let lower = wrong_lowercase_hex(&prefix, &pairs, &secret);
    assert_ne!(case_insensitive, right);
    assert!(url_encoded.iter().all(|w| *w != right));
    assert_ne!(lower, right);

    for wrong in file["must_not_match"].as_array().expect("must_not_match") {
        let name = wrong["name"].as_str().expect("name");
        let listed = wrong["sign"].as_str().expect("sign");
        assert_ne!(listed, right, "{name}");
        let ours: Vec<String> = match name {
            "WRONG_case_insensitive_sort" => vec![case_insensitive.clone()],
            "WRONG_url_encoded_values" => url_encoded.clone(),
            "WRONG_lowercase_hex" => vec![lower.clone()],
            _ => continue,
        };
        assert!(
            ours.iter().any(|o| o == listed),
            "{name}: the wrong signer does not reproduce the listed signature"
        );
    }
}
