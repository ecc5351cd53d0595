//! TEMPORARY stand-in (replaced by the process_table module from the wt-proc branch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo { pub pid: i32, pub ppid: i32, pub pgid: i32, pub sid: i32, pub start_time: u64, pub uid: u32, pub state: char, pub comm: String }
pub fn scan() -> Vec<ProcessInfo> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return out };
    for entry in dir.flatten() {
        if let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) {
            if let Some(p) = process(pid) { out.push(p); }
        }
    }
    out
}
pub fn process(pid: i32) -> Option<ProcessInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.rfind(')')?;
    let comm = stat[stat.find('(')? + 1..close].to_string();
    let f: Vec<&str> = stat[close + 2..].split(' ').collect();
    Some(ProcessInfo { pid, state: f[0].chars().next()?, ppid: f[1].parse().ok()?, pgid: f[2].parse().ok()?, sid: f[3].parse().ok()?, start_time: f[19].parse().ok()?, uid: 0, comm })
}
pub fn environ_var(pid: i32, key: &str) -> Option<String> {
    let data = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    for item in data.split(|b| *b == 0) {
        if let Some(rest) = item.strip_prefix(key.as_bytes()) { if let Some(v) = rest.strip_prefix(b"=") { return Some(String::from_utf8_lossy(v).into_owned()); } }
    }
    None
}
pub fn cmdline(pid: i32) -> Option<String> { std::fs::read(format!("/proc/{pid}/cmdline")).ok().map(|d| String::from_utf8_lossy(&d).replace('\0', " ").trim().to_string()) }
pub fn user_name(uid: u32) -> String { uid.to_string() }
