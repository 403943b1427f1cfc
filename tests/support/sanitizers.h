#pragma once

// PEERGATE_TEST_SANITIZED is 1 in ASan/TSan builds: memory figures there measure the
// sanitizer (quarantined frees, shadow memory), not peergate, so memory bounds are skipped.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define PEERGATE_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define PEERGATE_TEST_SANITIZED 1
#endif
#endif
#ifndef PEERGATE_TEST_SANITIZED
#define PEERGATE_TEST_SANITIZED 0
#endif
