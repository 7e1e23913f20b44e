//! `twinlog module check | test | fmt`: the module language with no server running.

use super::Exit;
use crate::cli::{ModuleCheckArgs, ModuleFmtArgs, ModuleTestArgs};
use anyhow::Result;

pub fn check(args: ModuleCheckArgs) -> Result<Exit> {
    let _ = args;
    anyhow::bail!("`twinlog module check` is not built yet")
}

pub fn test(args: ModuleTestArgs) -> Result<Exit> {
    let _ = args;
    anyhow::bail!("`twinlog module test` is not built yet")
}

pub fn fmt(args: ModuleFmtArgs) -> Result<Exit> {
    let _ = args;
    anyhow::bail!("`twinlog module fmt` is not built yet")
}
