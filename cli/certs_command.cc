// `peergate certs`: bootstrap the mesh's root CA and issue certificates from it, for local mode,
// tests and the webhook's serving certificate. Everything cryptographic is in identity/; this
// file turns flags into calls and results into files.
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "peergate/cli/command.h"
#include "peergate/cli/duration.h"
#include "peergate/cli/exit_codes.h"
#include "peergate/identity/ca.h"
#include "peergate/identity/issuer.h"
#include "peergate/identity/keys.h"
#include "peergate/identity/secure_file.h"
#include "peergate/identity/spiffe.h"

namespace peergate::cli {
namespace {

namespace fs = std::filesystem;
namespace id = peergate::identity;
using Clock = std::chrono::system_clock;

constexpr const char* kCertsFooter =
    "Examples:\n"
    "  peergate certs ca --out ca/\n"
    "  peergate certs issue --ca ca/ --spiffe spiffe://cluster.local/ns/foo/sa/httpbin "
    "--out foo-httpbin/\n"
    "  peergate certs serving --ca ca/ --dns peergate.peergate-system.svc --out serving/\n"
    "  peergate webhook --tls-cert serving/cert.pem --tls-key serving/key.pem ...\n"
    "Private keys are written with mode 0600. Existing files are never replaced without "
    "--force.\n"
    "Exit codes: 0 written, 64 usage error, 65 unusable CA, expired CA, or an output file that "
    "exists (nothing is written then).";

constexpr const char* kCaFooter =
    "Writes DIR/ca.pem (the trust bundle every proxy and client gets) and DIR/ca-key.pem (0600;\n"
    "keep it secret: whoever has it can impersonate every workload). The root is CA:TRUE,\n"
    "pathlen:0, keyCertSign+cRLSign, subject O=peergate, CN=peergate root CA.\n"
    "Example: peergate certs ca --out ca/ --key-type rsa3072 --ttl 43800h";

constexpr const char* kIssueFooter =
    "Writes DIR/cert.pem, DIR/key.pem (0600) and DIR/ca.pem: what `peergate proxy --certs DIR`\n"
    "reads. The certificate's only name is the SPIFFE ID (URI SAN); it is a client and server\n"
    "certificate (mTLS), CA:FALSE, and never outlives the CA.\n"
    "Example: peergate certs issue --ca ca/ --spiffe spiffe://cluster.local/ns/foo/sa/httpbin "
    "--out foo/ --ttl 12h";

constexpr const char* kServingFooter =
    "Writes DIR/cert.pem, DIR/key.pem (0600) and DIR/ca.pem: the webhook's serving certificate\n"
    "(`peergate webhook --tls-cert DIR/cert.pem --tls-key DIR/key.pem`); put ca.pem, base64, in\n"
    "the webhook configurations' caBundle. serverAuth only; never outlives the CA.\n"
    "Example: peergate certs serving --ca ca/ --dns peergate.peergate-system.svc "
    "--dns peergate.peergate-system.svc.cluster.local --ip 10.96.0.15 --out serving/";

// ---------------------------------------------------------------------------------------------
// Flags

struct CommonFlags {
  std::string out;
  std::string key_type = "ecdsa";
  std::string ttl;
  bool force = false;
};

struct IssueFlags {
  CommonFlags common;
  std::string ca_dir;
  std::string spiffe;
};

struct ServingFlags {
  CommonFlags common;
  std::string ca_dir;
  std::vector<std::string> dns;
  std::vector<std::string> ips;
};

// Validators run while parsing, so a bad value is a usage error (64) reported by CLI11 with
// the flag's name.
template <typename Check>
CLI::Validator validator(const char* name, Check check) {
  return CLI::Validator(
      [check](std::string& value) -> std::string {
        const std::optional<std::string> problem = check(value);
        return problem ? *problem : std::string();
      },
      name);
}

std::optional<std::string> errorOf(const auto& result) {
  if (result) return std::nullopt;
  return result.error().message;
}

const CLI::Validator& durationCheck() {
  static const CLI::Validator kCheck =
      validator("DURATION", [](const std::string& value) { return errorOf(parseDuration(value)); });
  return kCheck;
}

void addCommonOptions(CLI::App& app, CommonFlags& options, const std::string& default_ttl) {
  options.ttl = default_ttl;
  app.add_option("--out", options.out, "Directory to write into (created when missing)")
      ->required()
      ->type_name("DIR");
  app.add_option("--key-type", options.key_type, "Key algorithm: ECDSA P-256, RSA 2048 or 3072")
      ->check(CLI::IsMember({"ecdsa", "rsa", "rsa2048", "rsa3072"}))
      ->capture_default_str();
  app.add_option("--ttl", options.ttl, "Lifetime, e.g. 24h, 90m, 30d, 1h30m")
      ->check(durationCheck())
      ->capture_default_str();
  app.add_flag("--force", options.force, "Replace existing output files");
}

void addCaDirOption(CLI::App& app, std::string& ca_dir) {
  app.add_option("--ca", ca_dir, "CA directory with ca.pem and ca-key.pem (`peergate certs ca`)")
      ->required()
      ->type_name("DIR");
}

// ---------------------------------------------------------------------------------------------
// Writing the results

struct OutputFile {
  std::string name;
  std::string content;
  id::FileMode mode;
};

int fail(Streams& streams, const std::string& message) {
  streams.err << "peergate certs: " << message << "\n";
  return kExitBadInput;
}

// Checked before anything is written, so a refusal leaves the directory as it was.
std::optional<std::string> existingOutput(const std::string& dir,
                                          const std::vector<OutputFile>& files) {
  for (const OutputFile& file : files) {
    const fs::path path = fs::path(dir) / file.name;
    std::error_code error;
    if (fs::exists(fs::symlink_status(path, error))) return path.string();
  }
  return std::nullopt;
}

int writeOutputs(const std::string& dir, const std::vector<OutputFile>& files, bool force,
                 Streams& streams) {
  if (!force) {
    if (std::optional<std::string> existing = existingOutput(dir, files)) {
      return fail(streams, *existing +
                               " already exists; pass --force to replace it (nothing "
                               "was written)");
    }
  }
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) return fail(streams, "cannot create " + dir + ": " + error.message());
  const id::Overwrite overwrite = force ? id::Overwrite::Replace : id::Overwrite::Refuse;
  for (const OutputFile& file : files) {
    const std::string path = (fs::path(dir) / file.name).string();
    id::Result<id::Done> written =
        id::writeFileAtomically(path, file.content, file.mode, overwrite);
    if (!written) return fail(streams, written.error().message);
    streams.out << "wrote " << path << (file.mode == id::FileMode::Private ? " (mode 0600)" : "")
                << "\n";
  }
  return kExitOk;
}

std::chrono::seconds durationOf(const std::string& text) {
  return parseDuration(text).value();  // validated while parsing the flags
}

id::KeyType keyTypeOf(const std::string& text) { return id::parseKeyType(text).value(); }

// ---------------------------------------------------------------------------------------------
// The subcommands

int runCa(const CommonFlags& options, Streams& streams) {
  id::RootOptions root;
  root.key_type = keyTypeOf(options.key_type);
  root.ttl = durationOf(options.ttl);
  id::Result<id::CertificateAuthority> ca = id::createRootCa(root, Clock::now());
  if (!ca) return fail(streams, ca.error().message);
  id::Result<std::string> cert_pem = id::certificatePem(ca.value().cert.get());
  id::Result<std::string> key_pem = id::privateKeyPem(ca.value().key.get());
  if (!cert_pem || !key_pem) return fail(streams, "cannot encode the CA as PEM");
  const int code = writeOutputs(options.out,
                                {{id::kCaKeyFile, key_pem.value(), id::FileMode::Private},
                                 {id::kCaCertFile, cert_pem.value(), id::FileMode::Public}},
                                options.force, streams);
  if (code != kExitOk) return code;
  X509* cert = ca.value().cert.get();
  streams.out << "root CA \"" << id::subjectText(cert) << "\" ("
              << id::describeKeyType(root.key_type) << "), serial " << id::serialHex(cert)
              << ", valid until " << id::isoTime(id::validityOf(cert).not_after) << "\n";
  return kExitOk;
}

// The leaf, its fresh key and the CA's certificate, written as cert.pem, key.pem, ca.pem.
int writeLeaf(const id::CertificateAuthority& ca, const id::KeyPtr& key, const id::CertPtr& cert,
              const CommonFlags& options, Streams& streams) {
  id::Result<std::string> cert_pem = id::certificatePem(cert.get());
  id::Result<std::string> key_pem = id::privateKeyPem(key.get());
  id::Result<std::string> ca_pem = id::certificatePem(ca.cert.get());
  if (!cert_pem || !key_pem || !ca_pem) return fail(streams, "cannot encode the output as PEM");
  return writeOutputs(options.out,
                      {{"key.pem", key_pem.value(), id::FileMode::Private},
                       {"cert.pem", cert_pem.value(), id::FileMode::Public},
                       {"ca.pem", ca_pem.value(), id::FileMode::Public}},
                      options.force, streams);
}

void reportLeaf(X509* cert, Clock::time_point now, const CommonFlags& options, Streams& streams) {
  const id::Validity validity = id::validityOf(cert);
  const std::chrono::seconds requested = durationOf(options.ttl);
  streams.out << "serial " << id::serialHex(cert) << ", valid until "
              << id::isoTime(validity.not_after) << "\n";
  if (validity.not_after + std::chrono::seconds(1) < now + requested) {
    const auto lifetime = std::chrono::duration_cast<std::chrono::seconds>(
        validity.not_after - std::chrono::floor<std::chrono::seconds>(now));
    streams.err << "warning: --ttl " << options.ttl
                << " goes past the CA's expiry; the certificate ends with the CA at "
                << id::isoTime(validity.not_after) << " (" << formatDuration(lifetime) << ")\n";
  }
}

// Loads the CA and makes a key, then lets `issue` make the certificate; shared by issue/serving.
template <typename Issue>
int runLeaf(const std::string& ca_dir, const CommonFlags& options, Streams& streams, Issue issue) {
  id::Result<id::CertificateAuthority> ca = id::loadCa(ca_dir);
  if (!ca) return fail(streams, "--ca " + ca_dir + ": " + ca.error().message);
  id::Result<id::KeyPtr> key = id::generateKey(keyTypeOf(options.key_type));
  if (!key) return fail(streams, key.error().message);
  const id::IssueOptions issue_options{Clock::now(), durationOf(options.ttl)};
  id::Result<id::CertPtr> cert = issue(ca.value(), key.value().get(), issue_options);
  if (!cert) return fail(streams, cert.error().message);
  const int code = writeLeaf(ca.value(), key.value(), cert.value(), options, streams);
  if (code == kExitOk) reportLeaf(cert.value().get(), issue_options.now, options, streams);
  return code;
}

int runIssue(const IssueFlags& options, Streams& streams) {
  const id::SpiffeId spiffe = id::parseSpiffeId(options.spiffe).value();  // validated by CLI11
  return runLeaf(
      options.ca_dir, options.common, streams,
      [&](const id::CertificateAuthority& ca, EVP_PKEY* key, const id::IssueOptions& issue) {
        return id::issueWorkloadCert(ca, key, spiffe, issue);
      });
}

int runServing(const ServingFlags& options, Streams& streams) {
  const id::ServingNames names{options.dns, options.ips};
  return runLeaf(
      options.ca_dir, options.common, streams,
      [&](const id::CertificateAuthority& ca, EVP_PKEY* key, const id::IssueOptions& issue) {
        return id::issueServingCert(ca, key, names, issue);
      });
}

// ---------------------------------------------------------------------------------------------
// Registration

Command addCaSubcommand(CLI::App& certs) {
  auto options = std::make_shared<CommonFlags>();
  CLI::App* app = certs.add_subcommand("ca", "Create a self-signed root CA (ca.pem, ca-key.pem)");
  addCommonOptions(*app, *options, "87600h");
  app->footer(kCaFooter);
  return {app, [options](Streams& streams) { return runCa(*options, streams); }};
}

Command addIssueSubcommand(CLI::App& certs) {
  auto options = std::make_shared<IssueFlags>();
  CLI::App* app = certs.add_subcommand(
      "issue", "Issue a workload certificate for a SPIFFE ID (cert.pem, key.pem, ca.pem)");
  addCaDirOption(*app, options->ca_dir);
  app->add_option("--spiffe", options->spiffe, "spiffe://<trust-domain>/ns/<namespace>/sa/<sa>")
      ->required()
      ->type_name("URI")
      ->check(validator("SPIFFE",
                        [](const std::string& uri) { return errorOf(id::parseSpiffeId(uri)); }));
  addCommonOptions(*app, options->common, "24h");
  app->footer(kIssueFooter);
  return {app, [options](Streams& streams) { return runIssue(*options, streams); }};
}

Command addServingSubcommand(CLI::App& certs) {
  auto options = std::make_shared<ServingFlags>();
  CLI::App* app = certs.add_subcommand(
      "serving", "Issue a TLS serving certificate for DNS names (cert.pem, key.pem, ca.pem)");
  addCaDirOption(*app, options->ca_dir);
  app->add_option("--dns", options->dns, "DNS name the server answers to; repeatable")
      ->required()
      ->type_name("NAME")
      ->check(validator("DNS", [](const std::string& name) { return id::dnsNameProblem(name); }));
  app->add_option("--ip", options->ips, "IP address the server answers on; repeatable")
      ->type_name("IP")
      ->check(validator("IP", [](const std::string& ip) { return id::ipAddressProblem(ip); }));
  addCommonOptions(*app, options->common, "8760h");
  app->footer(kServingFooter);
  return {app, [options](Streams& streams) { return runServing(*options, streams); }};
}

}  // namespace

Command addCertsCommand(CLI::App& root) {
  CLI::App* app = root.add_subcommand(
      "certs", "Create the mesh's root CA and issue workload (SPIFFE) and serving certificates");
  app->require_subcommand(1);
  app->footer(kCertsFooter);
  const std::vector<Command> subcommands = {addCaSubcommand(*app), addIssueSubcommand(*app),
                                            addServingSubcommand(*app)};
  return {app, [subcommands](Streams& streams) {
            for (const Command& subcommand : subcommands) {
              if (subcommand.app->parsed()) return subcommand.action(streams);
            }
            return kExitUsage;  // unreachable: require_subcommand(1)
          }};
}

}  // namespace peergate::cli
