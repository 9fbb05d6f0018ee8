#pragma once

// kapseld under systemd (sd_notify(3), sd_listen_fds(3), systemd.exec(5)). Every function is a
// no-op or returns "not under systemd" when kapseld was started some other way.

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::daemon::systemd {

// Type=notify: READY=1 once serving, RELOADING=1 ... READY=1 around a SIGHUP reload, STOPPING=1
// at shutdown, STATUS= lines in between. Thread-safe (each call is one datagram).
void NotifyReady(absl::string_view status);
void NotifyReloading();
void NotifyStopping();
void NotifyStatus(absl::string_view status);

// The listening socket systemd passed (kapseld.socket), checked to be a Unix stream socket that
// listens; nullopt when there is none. Unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES so that
// nothing kapseld spawns sees them. Only one socket is expected.
absl::StatusOr<std::optional<linux::UniqueFd>> TakeActivatedSocket();

// True when stderr is the journal's stream ($JOURNAL_STREAM names the device and inode of fd 2,
// systemd.exec(5)): log records then go to the journal with structured fields.
bool StderrIsJournal();
// The comparison StderrIsJournal makes, on given values (tests).
bool JournalStreamMatches(const char* journal_stream, uint64_t dev, uint64_t ino);

}  // namespace kapsel::daemon::systemd
