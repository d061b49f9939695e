//! `image_filter_rs_source` against S3: moto's S3 server (from PyPI, in a
//! venv under build/ made by tools/s3-venv.sh) with a public-read bucket,
//! reached through an `internal` location, as the README recommends.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use image_filter_rs_tests::http::{Request, Response};
use image_filter_rs_tests::images::{self, decode, mean_rgb};
use image_filter_rs_tests::nginx::Nginx;
use image_filter_rs_tests::paths;
use image_filter_rs_tests::wait::wait_until;

const DEADLINE: Duration = Duration::from_secs(30);

/// moto's server on a free port; killed (by its PID) when dropped.
struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_moto() -> Moto {
    let script = paths::repo_root().join("tools/s3-venv.sh");
    let out = Command::new(&script)
        .stderr(Stdio::inherit())
        .output()
        .expect("run tools/s3-venv.sh");
    assert!(out.status.success(), "tools/s3-venv.sh failed");
    let server = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let moto = Moto { child, port };
    wait_until("moto's S3 server to answer", DEADLINE, || {
        Request::get("/")
            .try_send(port)
            .ok()
            .filter(|r| r.status == 200)
    });
    moto
}

fn put(moto: &Moto, path: &str, body: Vec<u8>, acl: bool) -> Response {
    let mut req = Request::new("PUT", path).body(body);
    if acl {
        req = req.header("x-amz-acl", "public-read");
    }
    req.send(moto.port)
}

fn front(moto: &Moto) -> Nginx {
    Nginx::builder()
        .http("image_filter_rs_cache_path @PREFIX@/cache keys_zone=thumbs:1m;")
        .server(&format!(
            "location ~ ^/thumb/(?<key>.+)$ {{\n\
             \x20   image_filter_rs 64x64;\n\
             \x20   image_filter_rs_cache thumbs;\n\
             \x20   image_filter_rs_source /_s3/$key;\n\
             \x20   image_filter_rs_source_valid 1s;\n\
             \x20   add_header X-Cache-Status $image_filter_rs_cache_status always;\n\
             }}\n\
             location /_s3/ {{\n\
             \x20   internal;\n\
             \x20   proxy_pass http://127.0.0.1:{}/originals/;\n\
             }}\n",
            moto.port
        ))
        .start()
}

fn colour_near(resp: &Response, want: [u8; 3]) {
    let got = mean_rgb(&decode(&resp.body).image);
    for (g, w) in got.iter().zip(want) {
        assert!((g - f64::from(w)).abs() < 24.0, "{got:?} vs {want:?}");
    }
}

#[test]
fn thumbnails_of_a_public_read_bucket_are_fetched_revalidated_and_remade() {
    let moto = start_moto();
    put(&moto, "/originals", Vec::new(), true).assert_status(200);
    put(
        &moto,
        "/originals/photos/a.jpg",
        images::jpeg(320, 240, [210, 40, 40]),
        true,
    )
    .assert_status(200);
    let front = front(&moto);

    let first = front.get("/thumb/photos/a.jpg");
    first.assert_status(200);
    assert_eq!(first.cache_status(), Some("MISS"));
    assert_eq!(decode(&first.body).dims(), (64, 48));
    colour_near(&first, [210, 40, 40]);
    let hit = front.get("/thumb/photos/a.jpg");
    assert_eq!(hit.cache_status(), Some("HIT"));

    // Past source_valid: S3 answers the conditional GET with 304.
    let revalidated = wait_until("a revalidation", DEADLINE, || {
        let r = front.get("/thumb/photos/a.jpg");
        (r.cache_status() != Some("HIT")).then_some(r)
    });
    revalidated.assert_status(200);
    assert_eq!(revalidated.cache_status(), Some("REVALIDATED"));
    assert!(revalidated.body == first.body);

    // A new object under the same key: new pixels.
    put(
        &moto,
        "/originals/photos/a.jpg",
        images::jpeg(300, 300, [40, 40, 210]),
        true,
    )
    .assert_status(200);
    let changed = wait_until("the changed object", DEADLINE, || {
        let r = front.get("/thumb/photos/a.jpg");
        (r.cache_status() == Some("EXPIRED")).then_some(r)
    });
    changed.assert_status(200);
    assert_eq!(decode(&changed.body).dims(), (64, 64));
    colour_near(&changed, [40, 40, 210]);

    // A key the bucket lacks: S3's 404 is the client's 404.
    front.get("/thumb/photos/none.jpg").assert_status(404);
    front.stop_and_check();
}
