"""Bad inputs found before the network: flags, ARNs, URLs, timeouts, files, selectors, env.

Every case must fail with its exit code, one stderr line naming the problem, nothing on
stdout, no secret, no file changed and no request sent (see tests/badinput/harness.py).
"""

from __future__ import annotations

import pytest

from tests.badinput.cases import AUTH, CERT, CONFIG, KEYLOAD, STORE, UNAVAILABLE, USAGE, case, raw
from tests.badinput.conftest import KEY_PASSWORD, P12_PASSWORD
from tests.badinput.harness import check

TA_OK = "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/ta"

ARNS = [
    case("arn-empty-role", CONFIG, "missing role ARN", role_arn=""),
    case("arn-no-prefix", CONFIG, "invalid prefix", trust_anchor_arn="nope"),
    case("arn-few-sections", CONFIG, "not enough sections", profile_arn="arn:aws:rolesanywhere"),
    case(
        "arn-unknown-partition",
        CONFIG,
        "unknown AWS partition",
        trust_anchor_arn=TA_OK.replace(":aws:", ":aws-typo:"),
    ),
    case(
        "arn-unknown-partition-all",
        CONFIG,
        "unknown AWS partition",
        trust_anchor_arn=TA_OK.replace(":aws:", ":aws-xx:"),
        profile_arn="arn:aws-xx:rolesanywhere:us-east-1:123456789012:profile/p",
        role_arn="arn:aws-xx:iam::123456789012:role/r",
    ),
    case("arn-mixed-partitions", CONFIG, "mix partitions", role_arn="arn:aws-cn:iam::123456789012:role/r"),
    case(
        "arn-region-mismatch",
        CONFIG,
        "regions don't match",
        profile_arn="arn:aws:rolesanywhere:eu-west-1:123456789012:profile/p",
    ),
    case("arn-bad-region", CONFIG, "invalid region", trust_anchor_arn=TA_OK.replace("us-east-1", "US_EAST")),
    case(
        "arn-no-region",
        CONFIG,
        "has no region",
        trust_anchor_arn=TA_OK.replace("us-east-1", ""),
        profile_arn="arn:aws:rolesanywhere::123456789012:profile/p",
    ),
    case("arn-role-is-s3", CONFIG, "not an IAM role ARN", role_arn="arn:aws:s3:::bucket"),
    case("arn-anchor-is-profile", CONFIG, "not a Roles Anywhere trust anchor", trust_anchor_arn="{pr}"),
    case("arn-profile-is-anchor", CONFIG, "not a Roles Anywhere profile", profile_arn="{ta}"),
    case("arn-newline", CONFIG, "white space or control", role_arn="arn:aws:iam::123456789012:role/r\nX-Injected: 1"),
    case("arn-escape", CONFIG, "white space or control", role_arn="arn:aws:iam::1:role/\x1b[31mred"),
    case("arn-huge", CONFIG, "at most 2048", role_arn="arn:aws:iam::1:role/" + "r" * 5000),
    case("region-differs", CONFIG, "differs from the trust anchor", "--region", "eu-west-1"),
    case("region-garbage", CONFIG, "invalid region", "--region", "Not/A/Region"),
    case("region-empty-space", CONFIG, "invalid region", "--region", " "),
    case(
        "fips-eu",
        CONFIG,
        "no FIPS endpoint",
        "--use-fips-endpoint",
        "--region",
        "eu-west-1",
        trust_anchor_arn=TA_OK.replace("us-east-1", "eu-west-1"),
        profile_arn="arn:aws:rolesanywhere:eu-west-1:123456789012:profile/p",
        endpoint=None,
    ),
    case(
        "dualstack-iso",
        CONFIG,
        "no dual-stack",
        "--use-dualstack-endpoint",
        trust_anchor_arn="arn:aws-iso:rolesanywhere:us-iso-east-1:123456789012:trust-anchor/t",
        profile_arn="arn:aws-iso:rolesanywhere:us-iso-east-1:123456789012:profile/p",
        role_arn="arn:aws-iso:iam::123456789012:role/r",
        endpoint=None,
    ),
]

DURATIONS_AND_NAMES = [
    case("duration-low", CONFIG, "outside 900-43200", "--session-duration", "899"),
    case("duration-high", CONFIG, "outside 900-43200", "--session-duration", "43201"),
    case("duration-text", CONFIG, "not a whole number", "--session-duration", "an hour"),
    case("duration-float", CONFIG, "not a whole number", "--session-duration", "3600.5"),
    case("duration-negative", CONFIG, "outside 900-43200", "--session-duration=-5"),
    case("duration-huge", CONFIG, "not a whole number", "--session-duration", "9" * 40),
    case("session-name-short", CONFIG, "invalid role session name", "--role-session-name", "a"),
    case("session-name-chars", CONFIG, "invalid role session name", "--role-session-name", "bad name!"),
    case("session-name-long", CONFIG, "invalid role session name", "--role-session-name", "n" * 65),
    case("instance-property-no-equals", USAGE, "KEY=VALUE", "--instance-property", "novalue"),
    case("instance-property-empty-value", CONFIG, "outside 1-200", "--instance-property", "k="),
    case("instance-property-long", CONFIG, "outside 1-200", "--instance-property", "k=" + "v" * 201),
    case("max-attempts-zero", CONFIG, "outside 1-100", "--max-attempts", "0"),
    case("max-attempts-text", CONFIG, "not a whole number", "--max-attempts", "many"),
    case("max-attempts-huge", CONFIG, "outside 1-100", "--max-attempts", "1000000"),
]

URLS_AND_TIMEOUTS = [
    case("url-port-too-big", CONFIG, "outside 1-65535", endpoint="https://127.0.0.1:99999"),
    case("url-port-zero", CONFIG, "port 0", endpoint="https://127.0.0.1:0"),
    case("url-port-empty", CONFIG, "empty port", endpoint="https://127.0.0.1:"),
    case("url-port-text", CONFIG, "not a number", endpoint="https://127.0.0.1:https"),
    case("url-ipv6-unbracketed", CONFIG, "must be in brackets", endpoint="https://::1:8443"),
    case("url-ipv6-unclosed", CONFIG, "IPv6", endpoint="https://[::1:8443"),
    case("url-space", CONFIG, "white space", endpoint="https://127.0.0.1 :8443"),
    case("url-newline", CONFIG, "white space", endpoint="https://127.0.0.1\r\nHost: evil"),
    case("url-scheme-ftp", CONFIG, "scheme 'ftp'", endpoint="ftp://127.0.0.1"),
    case("url-scheme-file", CONFIG, "scheme 'file'", endpoint="file:///etc/passwd"),
    case("url-no-host", CONFIG, "no host", endpoint="https://"),
    case("url-userinfo", CONFIG, "user information", endpoint="https://user:pw@127.0.0.1:1"),
    case("url-query", CONFIG, "query string", endpoint="https://127.0.0.1:1/?a=b"),
    case("url-fragment", CONFIG, "fragment", endpoint="https://127.0.0.1:1/#x"),
    case("url-bad-label", CONFIG, "not a valid name", endpoint="https://-bad-.example"),
    case("url-empty", CONFIG, "", endpoint=""),
    case("timeout-nan", CONFIG, "not a finite number", "--connect-timeout", "nan"),
    case("timeout-inf", CONFIG, "not a finite number", "--read-timeout", "inf"),
    case("timeout-negative", CONFIG, "more than 0", "--read-timeout=-1"),
    case("timeout-zero", CONFIG, "more than 0", "--connect-timeout", "0"),
    case("timeout-text", CONFIG, "not a number", "--connect-timeout", "soon"),
    case("timeout-huge", CONFIG, "more than 3600", "--read-timeout", "1e300"),
    case("ca-bundle-missing", CONFIG, "CA bundle not found", ca_bundle="{missing}"),
    case("ca-bundle-directory", CONFIG, "CA bundle not found", ca_bundle="{dir}"),
    case("ca-bundle-garbage", CONFIG, "cannot use the CA bundle", ca_bundle="{garbage}"),
    case("ca-bundle-binary", CONFIG, "cannot use the CA bundle", ca_bundle="{binary}"),
    case("ca-bundle-is-a-key", CONFIG, "cannot use the CA bundle", ca_bundle="{key}"),
]

FILES = [
    case("cert-missing", KEYLOAD, "not found", certificate="{missing}"),
    case("key-missing", KEYLOAD, "not found", private_key="{missing}"),
    case("cert-directory", KEYLOAD, "directory", certificate="{dir}"),
    case("key-directory", KEYLOAD, "directory", private_key="{dir}"),
    case("cert-empty", KEYLOAD, "", certificate="{empty}"),
    case("key-empty", KEYLOAD, "unable to parse private key", private_key="{empty}"),
    case("cert-garbage", KEYLOAD, "", certificate="{garbage}"),
    case("key-garbage", KEYLOAD, "unable to parse private key", private_key="{garbage}"),
    case("cert-binary", KEYLOAD, "", certificate="{binary}"),
    case("key-binary", KEYLOAD, "unable to parse private key", private_key="{binary}"),
    case("cert-nonutf8", KEYLOAD, "", certificate="{nonutf8}"),
    case("key-nonutf8", KEYLOAD, "unable to parse private key", private_key="{nonutf8}"),
    case("cert-truncated", KEYLOAD, "", certificate="{truncated_cert}"),
    case("key-truncated", KEYLOAD, "unable to parse private key", private_key="{truncated_key}"),
    case("cert-bad-base64", KEYLOAD, "", certificate="{bad_base64_cert}"),
    case("cert-is-csr", KEYLOAD, "", certificate="{csr}"),
    case("cert-unterminated-pem-blocks", KEYLOAD, "no CERTIFICATE block", certificate="{unterminated_pem}"),
    case("key-unterminated-pem-blocks", KEYLOAD, "unable to parse private key", private_key="{unterminated_key_pem}"),
    case(
        "tss2-unterminated-pem-blocks",
        KEYLOAD,
        "holds no TSS2 PRIVATE KEY block",
        "--no-tpm-key-password",
        command="sign-string",
        private_key="{unterminated_tss2}",
    ),
    case("intermediates-unterminated", KEYLOAD, "", "--intermediates", "{unterminated_pem}"),
    case("cert-escape-bytes", KEYLOAD, "", certificate="{escape}"),
    case("key-escape-bytes", KEYLOAD, "unable to parse private key", private_key="{escape}"),
    case("cert-nul-bytes", KEYLOAD, "", certificate="{nul}"),
    case("cert-is-key", KEYLOAD, "", certificate="{key_as_cert}"),
    case("key-is-cert", KEYLOAD, "", private_key="{cert_as_key}"),
    case("key-not-matching", KEYLOAD, "", private_key="{other_key}"),
    case("cert-expired", CERT, "expired", certificate="{expired}", private_key="{expired_key}"),
    case("cert-not-yet-valid", CERT, "not valid until", certificate="{future}", private_key="{expired_key}"),
    case("cert-no-digital-signature", CERT, "digitalSignature", certificate="{nosign}", private_key="{expired_key}"),
    case("cert-ca", CERT, "CA certificate", certificate="{ca_cert}", private_key="{ca_key}"),
    case("cert-other-ca-no-key-match", CERT, "holds only CA certificates", certificate="{root_ca}"),
    case("intermediates-garbage", KEYLOAD, "", "--intermediates", "{garbage}"),
    case("intermediates-missing", KEYLOAD, "not found", "--intermediates", "{missing}"),
    case("key-encrypted-no-password", AUTH, "", private_key="{key_enc}"),
    case("key-encrypted-wrong-password", AUTH, "", "--pkcs8-password", "wrong-password", private_key="{key_enc}"),
    case(
        "key-encrypted-wrong-env-password",
        AUTH,
        "",
        private_key="{key_enc}",
        env={"RASIGN_PKCS8_PASSWORD": "wrong-password"},
    ),
    case("p12-no-password", AUTH, "", certificate="{p12}", private_key=None),
    case("p12-wrong-password", AUTH, "", "--pkcs8-password", "wrong", certificate="{p12}", private_key=None),
    case("p12-garbage", USAGE, "holds none", certificate="{binary}", private_key=None),
    case("key-fifo", KEYLOAD, "", private_key="{fifo}"),
    case("cert-fifo", KEYLOAD, "", certificate="{fifo}"),
    case("key-in-missing-dir", KEYLOAD, "not found", private_key="{missing_dir}"),
]

FLAGS = [
    case("unknown-flag", USAGE, "unknown flag: --bogus", "--bogus"),
    case("flag-group-conflict", USAGE, "none of the others can be", "--cert-selector", "Key=x509Subject,Value=CN=a"),
    case(
        "tpm-password-conflict", USAGE, "none of the others can be", "--tpm-key-password", "x", "--no-tpm-key-password"
    ),
    case("backend-option-no-equals", USAGE, "KEY=VALUE", "--backend-option", "novalue"),
    case("backend-unknown", USAGE, "unknown key backend", "--backend", "no-such-backend"),
    case("no-certificate", CERT, "", certificate=None),
    raw("no-command-flag", USAGE, "", "credential-process", "--role-arn"),
    raw("unknown-command", USAGE, "", "no-such-command"),
]

SELECTORS = [
    case("selector-syntax", USAGE, "", "--cert-selector", "Key=x509Subject", certificate=None, private_key=None),
    case(
        "selector-unknown-key", USAGE, "", "--cert-selector", "Key=x509Nope,Value=a", certificate=None, private_key=None
    ),
    case("selector-file-missing", USAGE, "", "--cert-selector", "file://{missing}", certificate=None, private_key=None),
    case(
        "selector-file-notjson",
        USAGE,
        "",
        "--cert-selector",
        "file://{selector_notjson}",
        certificate=None,
        private_key=None,
    ),
    case(
        "selector-file-number",
        USAGE,
        "",
        "--cert-selector",
        "file://{selector_number}",
        certificate=None,
        private_key=None,
    ),
    case(
        "selector-file-badkey",
        USAGE,
        "",
        "--cert-selector",
        "file://{selector_badkey}",
        certificate=None,
        private_key=None,
    ),
    case(
        "selector-file-nonutf8",
        USAGE,
        "",
        "--cert-selector",
        "file://{selector_nonutf8}",
        certificate=None,
        private_key=None,
    ),
    case(
        "selector-file-value-number",
        USAGE,
        "",
        "--cert-selector",
        "file://{selector_valnum}",
        certificate=None,
        private_key=None,
    ),
    case(
        "selector-store-missing",
        KEYLOAD,
        "directory not found",
        "--cert-selector",
        "Key=x509Subject,Value=CN=a",
        "--cert-store",
        "{missing}",
        certificate=None,
        private_key=None,
    ),
]

NON_UTF8_ARGUMENTS = [  # argv and environment bytes that are not UTF-8 arrive as surrogates
    case("argv-password-nonutf8", AUTH, "", "--pkcs8-password", "wr\udcffong", private_key="{key_enc}"),
    case("argv-cert-path-nonutf8", KEYLOAD, "not found", certificate="{dir}/no-\udcff\udcfe.pem"),
    case("argv-endpoint-nonutf8", CONFIG, "invalid endpoint URL", endpoint="https://h\udcff.example"),
    case("argv-role-arn-nonutf8", CONFIG, "control characters", role_arn="arn:aws:iam::1:role/\udcff"),
    case("argv-instance-property-nonutf8", CONFIG, "not UTF-8", "--instance-property", "k=\udcff"),
    case("argv-instance-property-escape", CONFIG, "control characters", "--instance-property", "k\x1b[2J=v"),
    case("argv-session-name-nonutf8", CONFIG, "invalid role session name", "--role-session-name", "\udcff\udcfe"),
    case(
        "argv-tcti-nonutf8",
        CONFIG,
        "--tpm-tcti contains bytes that are not UTF-8",
        "--tpm-tcti",
        "swtpm:host=\udcff",
        "--no-tpm-key-password",
        command="sign-string",
        private_key="handle:0x81000001",
    ),
    case(
        "argv-pkcs11-uri-nonutf8",
        CONFIG,
        "--private-key contains bytes",
        command="sign-string",
        private_key="pkcs11:object=\udcff",
        certificate=None,
    ),
    case("argv-backend-option-nonutf8", CONFIG, "--backend-option contains bytes", "--backend-option", "k=\udcff"),
    case(
        "argv-cert-store-uri-nonutf8",
        CONFIG,
        "--cert-store contains bytes",
        "--cert-selector",
        "Key=x509Subject,Value=CN=a",
        "--cert-store",
        "pkcs11:object=\udcff",
        certificate=None,
        private_key=None,
    ),
    case("argv-region-nonutf8", CONFIG, "invalid region", "--region", "us-\udcff"),
    case("env-password-nonutf8", AUTH, "", private_key="{key_enc}", env={"RASIGN_PKCS8_PASSWORD": "\udcff\udcfe"}),
    case(
        "env-cert-source-nonutf8",
        KEYLOAD,
        "neither PEM text nor base64",
        certificate="env:RASIGN_TEST_CERT",
        env={"RASIGN_TEST_CERT": "\udcffnot pem"},
    ),
    case("env-cert-source-unset", KEYLOAD, "is not set", certificate="env:RASIGN_TEST_UNSET"),
]

ENVIRONMENT = [
    case(
        "env-endpoint-bad-port",
        CONFIG,
        "AWS_ENDPOINT_URL",
        endpoint=None,
        env={"AWS_ENDPOINT_URL": "https://127.0.0.1:70000"},
    ),
    case(
        "env-endpoint-ra-ipv6",
        CONFIG,
        "AWS_ENDPOINT_URL_ROLESANYWHERE",
        endpoint=None,
        env={"AWS_ENDPOINT_URL_ROLESANYWHERE": "https://fe80::1:443"},
    ),
    case("env-ca-bundle-missing", CONFIG, "CA bundle not found", ca_bundle=None, env={"AWS_CA_BUNDLE": "{missing}"}),
    # OpenSSL reads these while the system store loads, and blocks for ever on a FIFO.
    case("env-ssl-cert-dir-fifo", CONFIG, "SSL_CERT_DIR names", ca_bundle=None, env={"SSL_CERT_DIR": "{fifo}"}),
    case("env-ssl-cert-file-fifo", CONFIG, "SSL_CERT_FILE names", ca_bundle=None, env={"SSL_CERT_FILE": "{fifo}"}),
    case("env-ssl-cert-file-directory", CONFIG, "not a file", ca_bundle=None, env={"SSL_CERT_FILE": "{dir}"}),
    # A label over 63 characters made the socket layer's IDNA encoder raise (an internal error).
    case("env-proxy-label-too-long", CONFIG, "names no valid host", env={"HTTPS_PROXY": f"http://{'x' * 300}:3128"}),
    case("env-proxy-host-not-a-name", CONFIG, "names no valid host", env={"HTTPS_PROXY": "http://-bad-:3128"}),
    case(
        "env-ca-bundle-garbage", CONFIG, "cannot use the CA bundle", ca_bundle=None, env={"AWS_CA_BUNDLE": "{nonutf8}"}
    ),
    case(
        "env-endpoint-escape",
        CONFIG,
        "AWS_ENDPOINT_URL",
        endpoint=None,
        env={"AWS_ENDPOINT_URL": "https://127.0.0.1:1/\x1b]0;x\x07"},
    ),
    case("env-endpoint-scheme", CONFIG, "scheme", endpoint=None, env={"AWS_ENDPOINT_URL_ROLESANYWHERE": "gopher://x"}),
    case(
        "env-fips-eu",
        CONFIG,
        "no FIPS endpoint",
        endpoint=None,
        env={"AWS_USE_FIPS_ENDPOINT": "true"},
        trust_anchor_arn=TA_OK.replace("us-east-1", "eu-west-1"),
        profile_arn="arn:aws:rolesanywhere:eu-west-1:123456789012:profile/p",
    ),
    case("env-cache-dir-is-file", STORE, "", "--cache", env={"RASIGN_CACHE_DIR": "{garbage}"}),
    case("env-key-password-wrong", AUTH, "", private_key="{key_enc}", env={"RASIGN_PKCS8_PASSWORD": "nope"}),
]

PKCS11_WITHOUT_TOKEN = [
    case("p11-uri-bad-escape", USAGE, "", private_key="pkcs11:object=%zz", certificate="{cert}"),
    case("p11-uri-unknown-attr", USAGE, "", private_key="pkcs11:bogus=1", certificate="{cert}"),
    case("p11-uri-bad-id", USAGE, "", private_key="pkcs11:id=%G1", certificate="{cert}"),
    case(
        "p11-lib-missing", UNAVAILABLE, "", "--pkcs11-lib", "{missing}", private_key="pkcs11:object=k", own_process=True
    ),
    case(
        "p11-lib-garbage", UNAVAILABLE, "", "--pkcs11-lib", "{garbage}", private_key="pkcs11:object=k", own_process=True
    ),
    case(
        "p11-lib-directory", UNAVAILABLE, "", "--pkcs11-lib", "{dir}", private_key="pkcs11:object=k", own_process=True
    ),
]

TPM_WITHOUT_TPM = [
    case("tpm-handle-syntax", USAGE, "invalid hex TPM handle", private_key="handle:0xZZ"),
    case("tpm-handle-range", USAGE, "not a persistent key handle", private_key="handle:0x01"),
    case("tpm-pcrs-syntax", USAGE, "", "--tpm-pcrs", "sha999:1", private_key="handle:0x81000001", own_process=True),
    case("tpm-pcrs-range", USAGE, "", "--tpm-pcrs", "sha256:99", private_key="handle:0x81000001", own_process=True),
    case("tpm-tss2-garbage", KEYLOAD, "", private_key="{tss2_garbage}"),
    case(
        "tpm-tcti-unknown",
        UNAVAILABLE,
        "",
        "--tpm-tcti",
        "bogus:xyz",
        "--no-tpm-key-password",
        private_key="handle:0x81000001",
        own_process=True,
    ),
    case(
        "tpm-device-missing",
        UNAVAILABLE,
        "",
        "--no-tpm-key-password",
        private_key="handle:0x81000001",
        env={"TPM_DEVICE": "{missing}"},
        own_process=True,
    ),
]

OTHER_COMMANDS = [
    # The identities file is read by every command that takes --identity: never a hang on a device or FIFO.
    raw("identities-file-dev-zero", CONFIG, "not a regular file", "identities", "--config", "/dev/zero"),
    raw("identities-file-fifo", CONFIG, "not a regular file", "identities", "--config", "{fifo}"),
    raw("identities-file-directory", CONFIG, "not a regular file", "identities", "--config", "{dir}"),
    raw("identities-file-binary", CONFIG, "not UTF-8", "identities", "--config", "{nonutf8}"),
    raw("identities-file-missing", CONFIG, "no identities file", "identities", "--config", "{missing}"),
    raw(
        "identity-from-dev-zero",
        CONFIG,
        "not a regular file",
        "credential-process",
        "--identity",
        "dev",
        "--config",
        "/dev/zero",
    ),
    case(
        "sign-string-garbage-key",
        KEYLOAD,
        "unable to parse private key",
        command="sign-string",
        private_key="{garbage}",
    ),
    case("sign-string-bad-digest", USAGE, "", "--digest", "MD5", command="sign-string"),
    case(
        "sign-string-wrong-password",
        AUTH,
        "",
        "--pkcs8-password",
        "nope",
        command="sign-string",
        private_key="{key_enc}",
    ),
    case("read-cert-missing", KEYLOAD, "not found", command="read-certificate-data", certificate="{missing}"),
    case("read-cert-garbage", KEYLOAD, "", command="read-certificate-data", certificate="{garbage}"),
    case("read-cert-nonutf8", KEYLOAD, "", command="read-certificate-data", certificate="{nonutf8}"),
    case(
        "read-cert-p12-wrong-password",
        AUTH,
        "",
        "--pkcs8-password",
        "x",
        command="read-certificate-data",
        certificate="{p12}",
    ),
    case(
        "update-bad-endpoint",
        CONFIG,
        "outside 1-65535",
        "--once",
        "--credentials-file",
        "{credentials}",
        command="update",
        endpoint="https://127.0.0.1:65536",
    ),
    case(
        "update-bad-arn",
        CONFIG,
        "unknown AWS partition",
        "--once",
        "--credentials-file",
        "{credentials}",
        command="update",
        role_arn="arn:awz:iam::1:role/r",
    ),
    case(
        "update-nan-interval",
        CONFIG,
        "not a finite number",
        "--once",
        "--credentials-file",
        "{credentials}",
        "--max-backoff",
        "nan",
        command="update",
    ),
    case(
        "update-garbage-key",
        KEYLOAD,
        "",
        "--once",
        "--credentials-file",
        "{credentials}",
        command="update",
        private_key="{garbage}",
    ),
    case(
        "serve-bad-endpoint",
        CONFIG,
        "outside 1-65535",
        "--port",
        "0",
        command="serve",
        endpoint="https://127.0.0.1:65536",
        own_process=True,
    ),
    case(
        "serve-negative-timeout",
        CONFIG,
        "more than 0",
        "--port",
        "0",
        "--read-timeout=-2",
        command="serve",
        own_process=True,
    ),
    case("serve-garbage-cert", KEYLOAD, "", "--port", "0", command="serve", certificate="{garbage}", own_process=True),
    case(
        "serve-bad-refresh-ahead",
        CONFIG,
        "not a number",
        "--port",
        "0",
        "--refresh-ahead",
        "x",
        command="serve",
        own_process=True,
    ),
    case(
        "serve-ecs-path-relative",
        USAGE,
        "--ecs-path must be a path starting with /",
        "--port",
        "0",
        "--ecs-path",
        "x",
        command="serve",
    ),
    case("serve-listen-non-loopback", USAGE, "non-loopback", "--listen", "10.0.0.1:80", command="serve"),
    case("serve-listen-ipv6-no-port", USAGE, "invalid --listen", "--listen", "[::1]", command="serve"),
    case("serve-refresh-ahead-negative", CONFIG, "0 or more", "--port", "0", "--refresh-ahead=-5", command="serve"),
    case(
        "update-refresh-ahead-nan", CONFIG, "not a finite number", "--once", "--refresh-ahead", "nan", command="update"
    ),
    case(
        "update-min-interval-inf", CONFIG, "not a finite", "--once", "--min-refresh-interval", "inf", command="update"
    ),
    case("update-max-backoff-huge", CONFIG, "more than 86400", "--once", "--max-backoff", "1e9", command="update"),
    case("update-profile-missing-value", USAGE, "expected one argument", "--once", "--profile", command="update"),
    case("serve-port-too-big", USAGE, "--port must be", "--port", "99999", command="serve"),
    case("serve-port-negative", USAGE, "--port must be", "--port=-1", command="serve"),
    case("serve-listen-not-ip", USAGE, "invalid --listen", "--listen", "300.1.1.1:1", command="serve"),
    case("serve-hop-limit-zero", USAGE, "--hop-limit", "--port", "0", "--hop-limit", "0", command="serve"),
    raw("emulator-bad-port", USAGE, "", "emulator", "--port", "x"),
    raw("emulator-trust-anchor-garbage", KEYLOAD, "", "emulator", "--trust-anchor", "{garbage}", "--port", "0"),
    raw(
        "emulator-trust-anchor-missing", KEYLOAD, "not found", "emulator", "--trust-anchor", "{missing}", "--port", "0"
    ),
]

ALL = (
    ARNS
    + NON_UTF8_ARGUMENTS
    + DURATIONS_AND_NAMES
    + URLS_AND_TIMEOUTS
    + FILES
    + FLAGS
    + SELECTORS
    + ENVIRONMENT
    + PKCS11_WITHOUT_TOKEN
)
ALL += TPM_WITHOUT_TPM + OTHER_COMMANDS


@pytest.mark.parametrize("bad", [c.param() for c in ALL])
def test_local_bad_input(bad, world, capfd, monkeypatch):
    check(bad, world, capfd, monkeypatch, secrets=["wrong-password"] if "password" in bad.id else ())


def test_matrix_is_big_enough():
    ids = [c.id for c in ALL]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    assert len(ids) >= 130


def test_secret_given_as_password_is_not_echoed(world, capfd, monkeypatch):
    bad = case(
        "p8-right-password-wrong-cert",
        KEYLOAD,
        "",
        "--pkcs8-password",
        KEY_PASSWORD,
        private_key="{key_enc}",
        certificate="{other_cert}",
    )
    check(bad, world, capfd, monkeypatch, secrets=[KEY_PASSWORD, P12_PASSWORD])


EQUIVALENCE_IDS = ("url-port-too-big", "timeout-nan", "key-garbage", "arn-unknown-partition", "argv-password-nonutf8")


@pytest.mark.parametrize("case_id", EQUIVALENCE_IDS)
def test_in_process_cases_behave_the_same_in_their_own_process(case_id, world, capfd, monkeypatch):
    """The in-process runner is a shortcut, not a different program: a sample runs as the real CLI."""
    import dataclasses

    bad = next(c for c in ALL if c.id == case_id)
    in_process = check(bad, world, capfd, monkeypatch)
    own = check(dataclasses.replace(bad, own_process=True), world, capfd, monkeypatch)
    assert (own.code, own.stderr) == (in_process.code, in_process.stderr)
