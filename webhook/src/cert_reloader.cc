#include "peergate/webhook/cert_reloader.h"

#include <ctime>
#include <fstream>
#include <sstream>
#include <utility>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "peergate/webhook/decision_log.h"

namespace peergate::webhook {

struct CertReloader::Material {
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
  STACK_OF(X509) * chain = nullptr;
  std::string content;  // cert file + key file bytes, to notice a change
  ServingCertInfo info;

  Material() = default;
  Material(const Material&) = delete;
  Material& operator=(const Material&) = delete;
  ~Material() {
    X509_free(cert);
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
  }
};

namespace {

using Clock = std::chrono::system_clock;

std::optional<std::string> readFile(const std::string& path, std::string& error) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    error = "cannot read " + path;
    return std::nullopt;
  }
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) {
    error = "cannot read " + path + ": I/O error";
    return std::nullopt;
  }
  return std::move(text).str();
}

// The most recent OpenSSL error as text, and the queue cleared.
std::string opensslError() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char buffer[256];
  ERR_error_string_n(code, buffer, sizeof buffer);
  return buffer;
}

Clock::time_point toTimePoint(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return {};
  return Clock::from_time_t(timegm(&tm));
}

std::string serialHex(const X509* cert) {
  BIGNUM* number = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  if (number == nullptr) return "";
  char* hex = BN_bn2hex(number);
  std::string text = hex != nullptr ? hex : "";
  OPENSSL_free(hex);
  BN_free(number);
  return text;
}

std::string subjectText(const X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return "";
  X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<std::size_t>(size > 0 ? size : 0));
  BIO_free(bio);
  return text;
}

std::string isoTime(Clock::time_point time) {
  const std::time_t t = Clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

// Parses the PEM texts into a certificate, its chain and the matching key (a template so the
// private CertReloader::Material is only named inside the class's members).
template <typename MaterialT>
std::unique_ptr<MaterialT> parseInto(const std::string& cert_pem, const std::string& key_pem,
                                     std::string& error) {
  ERR_clear_error();
  auto material = std::make_unique<MaterialT>();
  BIO* cert_bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  material->cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  if (material->cert == nullptr) {
    BIO_free(cert_bio);
    error = "no PEM certificate in the certificate file (" + opensslError() + ")";
    return nullptr;
  }
  material->chain = sk_X509_new_null();
  while (X509* extra = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr)) {
    sk_X509_push(material->chain, extra);
  }
  ERR_clear_error();  // the loop ends on "no start line"
  BIO_free(cert_bio);

  BIO* key_bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  material->key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  BIO_free(key_bio);
  if (material->key == nullptr) {
    error = "no PEM private key in the key file (" + opensslError() + ")";
    return nullptr;
  }
  if (X509_check_private_key(material->cert, material->key) != 1) {
    ERR_clear_error();
    error = "the private key does not match the certificate";
    return nullptr;
  }
  material->content = cert_pem + key_pem;
  material->info.serial_hex = serialHex(material->cert);
  material->info.subject = subjectText(material->cert);
  material->info.not_before = toTimePoint(X509_get0_notBefore(material->cert));
  material->info.not_after = toTimePoint(X509_get0_notAfter(material->cert));
  return material;
}
}  // namespace

CertReloader::CertReloader(CertReloaderOptions options, ServerMetrics& metrics)
    : options_(std::move(options)), metrics_(metrics) {}

CertReloader::~CertReloader() { stop(); }

bool CertReloader::loadInitial(std::string& error) {
  std::optional<std::string> cert_pem = readFile(options_.cert_file, error);
  if (!cert_pem) return false;
  std::optional<std::string> key_pem = readFile(options_.key_file, error);
  if (!key_pem) return false;
  std::string parse_error;
  std::unique_ptr<Material> material = parseInto<Material>(*cert_pem, *key_pem, parse_error);
  if (!material) {
    error = options_.cert_file + " / " + options_.key_file + ": " + parse_error;
    metrics_.serving_cert_reloads.inc({"error"});
    return false;
  }
  const ServingCertInfo info = material->info;
  {
    std::lock_guard lock(mutex_);
    material_ = std::move(material);
  }
  metrics_.serving_cert_reloads.inc({"success"});
  metrics_.serving_cert_expiry.set(static_cast<double>(Clock::to_time_t(info.not_after)));
  logEvent(spdlog::level::info, "serving certificate loaded",
           {{"cert", options_.cert_file},
            {"serial", info.serial_hex},
            {"subject", info.subject},
            {"not_after", isoTime(info.not_after)}});
  warnIfExpiring(info, true);
  return true;
}

CertReloadResult CertReloader::reloadNow() {
  std::string error;
  std::optional<std::string> cert_pem = readFile(options_.cert_file, error);
  std::optional<std::string> key_pem;
  if (cert_pem) key_pem = readFile(options_.key_file, error);
  if (!cert_pem || !key_pem) {
    // A missing file during a swap is usually transient: log once per distinct failure.
    std::lock_guard lock(mutex_);
    if (last_failed_ != error) {
      last_failed_ = error;
      metrics_.serving_cert_reloads.inc({"error"});
      logEvent(spdlog::level::warn, "serving certificate reload failed; keeping the current one",
               {{"error", error}});
    }
    return CertReloadResult::Failed;
  }
  const std::string content = *cert_pem + *key_pem;
  {
    std::lock_guard lock(mutex_);
    if (material_ && material_->content == content) return CertReloadResult::Unchanged;
    if (last_failed_ == content) return CertReloadResult::Failed;
  }
  std::unique_ptr<Material> material = parseInto<Material>(*cert_pem, *key_pem, error);
  if (!material) {
    {
      std::lock_guard lock(mutex_);
      last_failed_ = content;
    }
    metrics_.serving_cert_reloads.inc({"error"});
    logEvent(spdlog::level::warn, "serving certificate reload failed; keeping the current one",
             {{"cert", options_.cert_file}, {"key", options_.key_file}, {"error", error}});
    return CertReloadResult::Failed;
  }
  const ServingCertInfo info = material->info;
  std::string previous_serial;
  {
    std::lock_guard lock(mutex_);
    if (material_) previous_serial = material_->info.serial_hex;
    material_ = std::move(material);
    last_failed_.clear();
  }
  metrics_.serving_cert_reloads.inc({"success"});
  metrics_.serving_cert_expiry.set(static_cast<double>(Clock::to_time_t(info.not_after)));
  logEvent(spdlog::level::info, "serving certificate reloaded",
           {{"cert", options_.cert_file},
            {"serial", info.serial_hex},
            {"previous_serial", previous_serial},
            {"not_after", isoTime(info.not_after)}});
  warnIfExpiring(info, true);
  return CertReloadResult::Reloaded;
}

void CertReloader::warnIfExpiring(const ServingCertInfo& info, bool force) {
  const Clock::time_point now = Clock::now();
  if (now + options_.expiry_warning < info.not_after) return;
  {
    std::lock_guard lock(mutex_);
    const auto steady_now = std::chrono::steady_clock::now();
    if (!force && last_expiry_warning_ != std::chrono::steady_clock::time_point{} &&
        steady_now - last_expiry_warning_ < std::chrono::hours(1)) {
      return;
    }
    last_expiry_warning_ = steady_now;
  }
  const auto hours_left =
      std::chrono::duration_cast<std::chrono::hours>(info.not_after - now).count();
  if (now >= info.not_after) {
    logEvent(spdlog::level::err,
             "serving certificate has expired: the API server will refuse every call; renew it",
             {{"cert", options_.cert_file},
              {"serial", info.serial_hex},
              {"not_after", isoTime(info.not_after)}});
  } else {
    logEvent(spdlog::level::warn, "serving certificate expires soon; renew it",
             {{"cert", options_.cert_file},
              {"serial", info.serial_hex},
              {"not_after", isoTime(info.not_after)},
              {"hours_left", hours_left}});
  }
}

void CertReloader::startWatching() {
  std::lock_guard lock(watch_mutex_);
  if (watcher_.joinable()) return;
  stopping_ = false;
  watcher_ = std::thread([this] { watchLoop(); });
}

void CertReloader::stop() {
  {
    std::lock_guard lock(watch_mutex_);
    stopping_ = true;
  }
  watch_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

void CertReloader::watchLoop() {
  std::unique_lock lock(watch_mutex_);
  while (!stopping_) {
    watch_cv_.wait_for(lock, options_.poll_interval, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    reloadNow();
    if (std::optional<ServingCertInfo> info = current()) warnIfExpiring(*info, false);
    lock.lock();
  }
}

std::shared_ptr<const CertReloader::Material> CertReloader::material() const {
  std::lock_guard lock(mutex_);
  return material_;
}

int CertReloader::certCallback(SSL* ssl, void* arg) {
  const auto* self = static_cast<const CertReloader*>(arg);
  const std::shared_ptr<const Material> material = self->material();
  if (!material) return 0;  // no certificate: the handshake fails
  // Takes its own references: a swap during the handshake cannot free what it uses.
  return SSL_use_cert_and_key(ssl, material->cert, material->key, material->chain, 1) == 1 ? 1 : 0;
}

void CertReloader::attachTo(SSL_CTX* ctx) { SSL_CTX_set_cert_cb(ctx, &certCallback, this); }

bool CertReloader::loaded() const { return material() != nullptr; }

std::optional<ServingCertInfo> CertReloader::current() const {
  const std::shared_ptr<const Material> material = this->material();
  if (!material) return std::nullopt;
  return material->info;
}

bool CertReloader::expired(Clock::time_point now) const {
  const std::shared_ptr<const Material> material = this->material();
  return material && now >= material->info.not_after;
}

}  // namespace peergate::webhook
