//! A command run by hand as root becomes the owner of the state directory
//! before it touches anything, so it never leaves files the service cannot
//! replace.
//!
//! On an installed host `/var/lib/menusync` belongs to the `menusync` user the
//! unit runs as. `sudo menusync rollback gangnam` used to write `state.json`,
//! `current` and the pushed files as root; the next pass of the service then
//! failed on them with `storage`. Now every command started as root switches
//! to the owner of `state_dir` (user, group, supplementary groups, `HOME`)
//! first, while the process is still single-threaded, and ssh then reads that
//! user's key and known_hosts. POS keys that only root may read are loaded
//! before the switch (see `pos::preload_credentials`).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::unistd::{Gid, Uid, User};

/// Who the process became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Became {
    pub user: String,
    pub uid: u32,
}

/// Switches a root process to the owner of `state_dir` when that owner is
/// not root; does nothing for another user or a state directory that does
/// not exist yet. Call before any thread is started.
pub fn become_state_owner(state_dir: &Path) -> Result<Option<Became>, String> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    let meta = match std::fs::metadata(state_dir) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(format!("cannot read {}: {err}", state_dir.display())),
    };
    if meta.uid() == 0 {
        return Ok(None);
    }
    let uid = Uid::from_raw(meta.uid());
    let gid = Gid::from_raw(meta.gid());
    let failed = |what: &str, err: nix::Error| {
        format!(
            "cannot become uid {uid}, the owner of {}, to write there ({what}: {err}); \
             run the command as that user instead",
            state_dir.display()
        )
    };
    let user = User::from_uid(uid).map_err(|err| failed("looking up the user", err))?;
    match &user {
        Some(user) => {
            let name = std::ffi::CString::new(user.name.as_bytes())
                .map_err(|_| format!("user name {:?} holds a NUL byte", user.name))?;
            nix::unistd::initgroups(&name, gid).map_err(|err| failed("initgroups", err))?
        }
        None => nix::unistd::setgroups(&[]).map_err(|err| failed("setgroups", err))?,
    }
    nix::unistd::setgid(gid).map_err(|err| failed("setgid", err))?;
    nix::unistd::setuid(uid).map_err(|err| failed("setuid", err))?;
    if nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(format!(
            "switched to uid {uid} but could become root again; refusing to go on"
        ));
    }
    let name = match user {
        Some(user) => {
            // SAFETY: called before any thread starts (the runtime is built
            // after this), so nothing reads the environment concurrently.
            unsafe { std::env::set_var("HOME", &user.dir) };
            user.name
        }
        None => uid.to_string(),
    };
    Ok(Some(Became {
        user: name,
        uid: uid.as_raw(),
    }))
}
