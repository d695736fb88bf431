//! Handing the URL to a person once the listener is up: opening it in the default browser
//! (`--open`) and QR codes of it for a phone on the same network (`--qr`).
//!
//! Both are the binary's, after the serving line and off the event loops: the browser is opened
//! from a thread of its own (a launcher may take seconds, or never return), and neither can stop
//! the server from starting: without a display, or when no launcher works, `--open` says so on
//! stderr and the server serves on. QR codes go to stderr, so stdout keeps exactly the serving
//! line and then the access log.
//!
//! Cost: startup only; one `getifaddrs` for `--qr` on an address that is every interface's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

use crate::sys;

/// The URL (`scheme` is `http` or `https`) to open in a browser on this machine: the bound
/// address, or loopback of the same family when bound to every interface (`0.0.0.0` is no
/// address to connect to everywhere).
pub fn local_url(scheme: &str, bound: SocketAddr) -> String {
    let ip = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    url(scheme, SocketAddr::new(ip, bound.port()))
}

/// `SCHEME://ADDR:PORT/`, an IPv6 address in brackets.
fn url(scheme: &str, addr: SocketAddr) -> String {
    format!("{scheme}://{addr}/")
}

/// The URLs other machines can reach the server at: when bound to every interface, one per
/// address of `interfaces` of the same family that is neither loopback nor link-local (a phone
/// cannot use an IPv6 link-local address without its zone), in order and without repeats;
/// otherwise the bound address alone.
pub fn lan_urls(scheme: &str, bound: SocketAddr, interfaces: &[IpAddr]) -> Vec<String> {
    if !bound.ip().is_unspecified() {
        return vec![url(scheme, bound)];
    }
    let mut urls: Vec<String> = Vec::new();
    for &ip in interfaces {
        let usable = match (bound.ip(), ip) {
            (IpAddr::V4(_), IpAddr::V4(v4)) => !v4.is_loopback() && !v4.is_link_local(),
            (IpAddr::V6(_), IpAddr::V6(v6)) => {
                !v6.is_loopback() && !v6.is_unicast_link_local() && v6.to_ipv4_mapped().is_none()
            }
            _ => false,
        };
        let url = url(scheme, SocketAddr::new(ip, bound.port()));
        if usable && !urls.contains(&url) {
            urls.push(url);
        }
    }
    urls
}

/// The addresses of this machine's interfaces (none if they cannot be listed).
pub fn interface_addresses() -> Vec<IpAddr> {
    match if_addrs::get_if_addrs() {
        Ok(interfaces) => interfaces.iter().map(|i| i.ip()).collect(),
        Err(e) => {
            log::warn!("--qr: cannot list the network interfaces: {e}");
            Vec::new()
        }
    }
}

/// A QR code of `text` for a terminal, two modules per character cell (half blocks), with its
/// quiet zone. Scanners want dark modules on a light ground: with `colors` (a terminal), each line
/// is drawn black on white whatever the terminal's theme; without, the light modules are the
/// drawn blocks, which reads right where text is light on dark, as in most terminals and log
/// viewers.
pub fn qr_text(text: &str, colors: bool) -> Result<String, String> {
    let code = QrCode::new(text.as_bytes()).map_err(|e| e.to_string())?;
    let image = if colors {
        code.render::<Dense1x2>().build()
    } else {
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .build()
    };
    let mut out = String::with_capacity(image.len() * 2);
    for line in image.lines() {
        if colors {
            out.push_str("\x1b[30;107m");
            out.push_str(line);
            out.push_str("\x1b[0m\n");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

/// The `--qr` text for a server bound to `bound`, speaking `scheme`: each URL a phone can use with
/// its QR code, or why there is none.
pub fn qr_report(scheme: &str, bound: SocketAddr, interfaces: &[IpAddr], colors: bool) -> String {
    let urls = lan_urls(scheme, bound, interfaces);
    if urls.is_empty() {
        return format!(
            "--qr: this machine has no address but loopback for {}: a phone cannot reach it\n",
            bound.ip()
        );
    }
    let mut out = String::new();
    if bound.ip().is_loopback() {
        out.push_str(
            "--qr: loopback is reachable from this machine only; bind 0.0.0.0 (-b 0.0.0.0) for a \
             phone on the same network\n",
        );
    }
    for url in urls {
        match qr_text(&url, colors) {
            Ok(code) => {
                out.push_str(&url);
                out.push('\n');
                out.push_str(&code);
            }
            Err(e) => out.push_str(&format!("--qr: no QR code for {url}: {e}\n")),
        }
    }
    out
}

/// Opens `url` in the default browser from a thread of its own, so the caller never waits for
/// the launcher; says on stderr (a warning) when there is no display or no launcher works.
pub fn open_in_browser(url: String) {
    if !sys::has_display() {
        log::warn!(
            "--open: no display to open a browser on (DISPLAY and WAYLAND_DISPLAY are unset); \
             open {url} yourself"
        );
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("open".into())
        .spawn(move || match open::that_detached(&url) {
            Ok(()) => log::debug!("--open: asked the desktop to open {url}"),
            Err(e) => log::warn!("--open: could not open a browser ({e}); open {url} yourself"),
        });
    if let Err(e) = spawned {
        log::warn!("--open: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_url_is_connectable() {
        for (bound, want) in [
            ("0.0.0.0:8080", "http://127.0.0.1:8080/"),
            ("[::]:80", "http://[::1]:80/"),
            ("127.0.0.1:9", "http://127.0.0.1:9/"),
            ("192.168.1.4:8080", "http://192.168.1.4:8080/"),
            ("[::1]:8080", "http://[::1]:8080/"),
        ] {
            assert_eq!(local_url("http", bound.parse().unwrap()), want, "{bound}");
        }
    }

    #[test]
    fn lan_urls_skip_loopback_link_local_and_the_other_family() {
        let interfaces: Vec<IpAddr> = [
            "127.0.0.1",
            "192.168.1.4",
            "169.254.3.3",
            "10.0.0.7",
            "192.168.1.4",
            "::1",
            "fe80::1",
            "2001:db8::5",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        let urls = |bound: &str| lan_urls("http", bound.parse().unwrap(), &interfaces);
        assert_eq!(
            urls("0.0.0.0:8080"),
            ["http://192.168.1.4:8080/", "http://10.0.0.7:8080/"]
        );
        assert_eq!(urls("[::]:8080"), ["http://[2001:db8::5]:8080/"]);
        assert_eq!(urls("127.0.0.1:8080"), ["http://127.0.0.1:8080/"]);
        assert_eq!(urls("10.0.0.7:81"), ["http://10.0.0.7:81/"]);
        assert!(lan_urls("http", "0.0.0.0:1".parse().unwrap(), &[]).is_empty());
        assert_eq!(
            lan_urls("https", "[::1]:8443".parse().unwrap(), &[]),
            ["https://[::1]:8443/"]
        );
    }

    /// The modules of a QR code printed by [`qr_text`] without colors: light where a half block
    /// is drawn.
    fn modules(text: &str) -> Vec<Vec<bool>> {
        let mut rows = Vec::new();
        for line in text.lines() {
            let (mut top, mut bottom) = (Vec::new(), Vec::new());
            for c in line.chars() {
                let (t, b) = match c {
                    '█' => (true, true),
                    '▀' => (true, false),
                    '▄' => (false, true),
                    ' ' => (false, false),
                    other => panic!("unexpected {other:?}"),
                };
                top.push(t);
                bottom.push(b);
            }
            rows.push(top);
            rows.push(bottom);
        }
        rows
    }

    #[test]
    fn the_qr_code_decodes_to_the_url() {
        let url = "http://192.168.1.4:8080/";
        let text = qr_text(url, false).unwrap();
        let light = modules(&text);
        let scale = 4;
        let (w, h) = (light[0].len() * scale, light.len() * scale);
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
            if light[y / scale][x / scale] { 255 } else { 0 }
        });
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, content) = grids[0].decode().expect("a readable QR code");
        assert_eq!(content, url);
        // With colors, the same modules the other way round, each line black on white.
        let colored = qr_text(url, true).unwrap();
        let plain: String = colored
            .lines()
            .map(|l| {
                let l = l.strip_prefix("\x1b[30;107m").unwrap();
                l.strip_suffix("\x1b[0m").unwrap().to_string() + "\n"
            })
            .collect();
        let dark = modules(&plain);
        assert_eq!(dark.len(), light.len());
        // The last line's lower half is past the code (it has an odd number of rows).
        for (d, l) in dark.iter().zip(&light).take(light.len() - 1) {
            assert!(d.iter().zip(l).all(|(d, l)| d != l));
        }
    }

    #[test]
    fn the_report_says_when_no_phone_can_reach_the_server() {
        let none = qr_report(
            "http",
            "0.0.0.0:80".parse().unwrap(),
            &["127.0.0.1".parse().unwrap()],
            false,
        );
        assert!(none.contains("no address but loopback"), "{none}");
        let lo = qr_report("http", "127.0.0.1:80".parse().unwrap(), &[], false);
        assert!(lo.contains("reachable from this machine only"), "{lo}");
        assert!(lo.contains("http://127.0.0.1:80/\n"), "{lo}");
    }
}
