//! Development secrets kept in files under `DATA_DIR`, readable only by the
//! owner (mode 0600), created once and reused after every restart.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

pub fn read_or_create(path: &Path, generate: impl FnOnce() -> String) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(existing) if !existing.trim().is_empty() => return Ok(existing.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
    }
    if let Some(dir) = path.parent() {
        create_private_dir(dir).with_context(|| format!("could not create {}", dir.display()))?;
    }
    let value = generate();
    let mut file = open_private(path).with_context(|| format!("could not create {}", path.display()))?;
    file.write_all(value.as_bytes())?;
    file.sync_all()?;
    Ok(value)
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(path)
}

/// Creates `dir` (and its parents) if missing, the new folder readable by the
/// owner only: it holds the SQLite database and the development secrets.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    Ok(())
}
