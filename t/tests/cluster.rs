//! The cluster recipe of `nginx-conf/cluster/`, run as written: a front
//! nginx (`front.conf`, no module) hashing `$request_uri` consistently over
//! three module nodes (`node.conf`, two workers each) that read the same
//! originals from one directory, all on 127.0.0.1.
//!
//! - A herd of 8 clients asking for 100 renditions 3 times each, shuffled,
//!   gets every one right, each from one node, and the nodes' `generated`
//!   counters add up to exactly 100. Repeated on fresh clusters, so a race
//!   that makes a rendition twice now and then cannot hide.
//! - A node stopped: every URL is still a 200, the keys of the node that
//!   went away are made once more on the others and nothing else moves.
//! - The node started again: the front sends its keys back to it, and its
//!   disk cache answers them (HIT, `generated` stays 0).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use image_filter_rs_tests::images::{assert_fit, decode, file_dims};
use image_filter_rs_tests::{paths, status, wait_until, Nginx, Request, Response};

const NODES: usize = 3;
/// The originals on the shared disk: four photos, so 4 x 25 widths make the
/// 100 renditions; and whether EXIF turns each a quarter (portrait.jpg is
/// stored 1800x1200 with Orientation 6, shown 1200x1800).
const ORIGINALS: [(&str, bool); 4] = [
    ("seeding.jpg", false),
    ("sunset.jpg", false),
    ("wine.jpg", false),
    ("portrait.jpg", true),
];
/// Each rendition is asked for this many times in one herd.
const REPEATS: usize = 3;
/// Concurrent clients of the front.
const CLIENTS: usize = 8;
/// Herds, each on a fresh cluster with empty caches: at least MIN_ROUNDS,
/// and more, up to MAX_ROUNDS, while ROUNDS_BUDGET lasts. A race that
/// doubles a generation in one herd out of eight passes N herds with
/// probability (7/8)^N: 0.59 for 4, 0.12 for 16 (the failover test's herd
/// adds one more). A herd takes 2-4 s on two cores.
const MIN_ROUNDS: usize = 4;
const MAX_ROUNDS: usize = 16;
const ROUNDS_BUDGET: Duration = Duration::from_secs(40);
/// node.conf's status location and cache zone.
const STATUS_PATH: &str = "/thumbnail-status";
const ZONE: &str = "thumbs";
/// The headers node.conf adds: which node answered, and its cache status.
const NODE_HEADER: &str = "X-Thumbnail-Node";
const CACHE_HEADER: &str = "X-Image-Filter-Cache";
/// How long the front may keep a node it saw fail out of the ring after the
/// node is back: front.conf's `fail_timeout` (5 s) with room for a busy
/// machine.
const COMEBACK_DEADLINE: Duration = Duration::from_secs(30);

fn recipe(name: &str) -> String {
    let path = paths::repo_root().join("nginx-conf/cluster").join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The widths node.conf's `image_filter_rs_sizes` allows on `/t/`, so the
/// test asks for exactly what the recipe serves.
fn allowed_widths(node_conf: &str) -> Vec<u32> {
    let uncommented: String = node_conf
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let start = uncommented
        .find("image_filter_rs_sizes")
        .expect("node.conf has an image_filter_rs_sizes line");
    let rest = &uncommented[start + "image_filter_rs_sizes".len()..];
    let list = &rest[..rest.find(';').expect("image_filter_rs_sizes ends with ;")];
    list.split_whitespace()
        .map(|size| {
            size.strip_suffix("x-")
                .and_then(|w| w.parse().ok())
                .unwrap_or_else(|| panic!("node.conf size {size:?} is not WIDTHx-"))
        })
        .collect()
}

/// One URL the test asks the front for, and what its answer must be.
#[derive(Clone, Debug)]
struct Rendition {
    url: String,
    width: u32,
    /// The original's size, for the expected fit.
    source: (u32, u32),
}

fn renditions(originals: &Path, widths: &[u32]) -> Vec<Rendition> {
    ORIGINALS
        .iter()
        .flat_map(|&(name, quarter_turned)| {
            let (w, h) = file_dims(&originals.join(name));
            let source = if quarter_turned { (h, w) } else { (w, h) };
            widths.iter().map(move |&width| Rendition {
                url: format!("/t/{name}?w={width}"),
                width,
                source,
            })
        })
        .collect()
}

/// xorshift64*: a reproducible shuffle from a printed seed, no dependency.
fn shuffled<T: Clone>(items: &[T], seed: u64) -> Vec<T> {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut out = items.to_vec();
    for i in (1..out.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        out.swap(i, j);
    }
    out
}

fn seed_for(round: usize) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64;
    now ^ (round as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Three nodes and a front, started from the recipe's files. Fields drop
/// in order: the front first, then the nodes, then the originals.
struct Cluster {
    front: Nginx,
    nodes: Vec<Nginx>,
    originals: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Cluster {
        // The shared disk: one directory every node's @MEDIA@ names.
        let originals = tempfile::Builder::new()
            .prefix("ifrs-cluster-originals-")
            .tempdir()
            .expect("create the originals directory");
        fs::set_permissions(originals.path(), fs::Permissions::from_mode(0o755))
            .expect("chmod the originals directory");
        for (name, _) in ORIGINALS {
            fs::copy(paths::sample_media(name), originals.path().join(name))
                .unwrap_or_else(|e| panic!("copy sample-media/{name}: {e}"));
        }
        let node_conf = recipe("node.conf").replace("@MEDIA@", &originals.path().to_string_lossy());
        let nodes: Vec<Nginx> = (0..NODES)
            .map(|_| Nginx::builder().start_config_text(&node_conf))
            .collect();
        let mut front_conf = recipe("front.conf");
        for (i, node) in nodes.iter().enumerate() {
            front_conf = front_conf.replace(
                &format!("@NODE{}@", i + 1),
                &format!("127.0.0.1:{}", node.port()),
            );
        }
        assert!(
            !front_conf.contains("@NODE"),
            "front.conf names more nodes than the test starts ({NODES})"
        );
        let front = Nginx::builder().start_config_text(&front_conf);
        Cluster {
            front,
            nodes,
            originals,
        }
    }

    /// Which node an answer came from, by the port in its node header.
    fn node_of(&self, resp: &Response) -> usize {
        let named = resp.headers_named(NODE_HEADER);
        assert_eq!(
            named.len(),
            1,
            "expected one {NODE_HEADER} header:\n{}",
            resp.describe()
        );
        let port: u16 = named[0]
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{NODE_HEADER} {:?} ends in no port", named[0]));
        self.nodes
            .iter()
            .position(|n| n.port() == port)
            .unwrap_or_else(|| panic!("{NODE_HEADER} names port {port}, no node of the cluster"))
    }

    fn stats(&self, node: usize) -> status::CacheStats {
        status::fetch(&self.nodes[node], STATUS_PATH, ZONE)
    }

    fn generated(&self, node: usize) -> u64 {
        self.stats(node).get("generated")
    }

    /// Every node's status page, for failure messages.
    fn pages(&self, skip: Option<usize>) -> String {
        (0..NODES)
            .filter(|&i| Some(i) != skip)
            .map(|i| {
                format!(
                    "node {i} (port {}): {}",
                    self.nodes[i].port(),
                    self.stats(i).raw
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Sends `requests` (indices into `all`) to the front from CLIENTS
    /// threads taking the next one from a shared cursor; checks each answer
    /// (200, one node header, a decodable image of the right size) and
    /// returns (rendition index, node, cache status) in completion order.
    fn ask(&self, all: &[Rendition], requests: &[usize]) -> Vec<(usize, usize, String)> {
        let cursor = AtomicUsize::new(0);
        let answers = Mutex::new(Vec::with_capacity(requests.len()));
        let failures = Mutex::new(Vec::new());
        let port = self.front.port();
        std::thread::scope(|scope| {
            for _ in 0..CLIENTS {
                scope.spawn(|| {
                    let next = || requests.get(cursor.fetch_add(1, Ordering::Relaxed));
                    while let Some(&which) = next() {
                        let r = &all[which];
                        match Request::get(&r.url).try_send(port) {
                            Ok(resp) => answers.lock().unwrap().push((which, resp)),
                            Err(e) => failures.lock().unwrap().push(format!("GET {}: {e}", r.url)),
                        }
                    }
                });
            }
        });
        let failures = failures.into_inner().unwrap();
        assert!(
            failures.is_empty(),
            "{} of {} requests got no answer:\n{}",
            failures.len(),
            requests.len(),
            failures.join("\n")
        );
        answers
            .into_inner()
            .unwrap()
            .into_iter()
            .map(|(which, resp)| {
                let r = &all[which];
                assert_eq!(
                    resp.status,
                    200,
                    "GET {} through the front:\n{}",
                    r.url,
                    resp.describe()
                );
                let node = self.node_of(&resp);
                let cache = resp.expect_header(CACHE_HEADER).to_string();
                let got = decode(&resp.body).dims();
                assert_fit(&r.url, got, r.source, Some(r.width), None);
                (which, node, cache)
            })
            .collect()
    }
}

/// The node each rendition lives on; fails if a rendition was answered by
/// two nodes.
fn homes(all: &[Rendition], answers: &[(usize, usize, String)]) -> Vec<usize> {
    let mut home: Vec<Option<usize>> = vec![None; all.len()];
    for &(which, node, _) in answers {
        match home[which] {
            None => home[which] = Some(node),
            Some(h) => assert_eq!(
                h, node,
                "{} was answered by node {h} and by node {node}: the front's hash did not \
                 keep it on one node",
                all[which].url
            ),
        }
    }
    home.into_iter()
        .enumerate()
        .map(|(i, h)| h.unwrap_or_else(|| panic!("{} was never answered", all[i].url)))
        .collect()
}

/// One herd on a fresh cluster: every answer right, every rendition made
/// exactly once, on the node that answers for it. Returns the homes.
fn herd(cluster: &Cluster, all: &[Rendition], round: usize) -> Vec<usize> {
    let seed = seed_for(round);
    let requests: Vec<usize> = (0..all.len()).flat_map(|i| [i; REPEATS]).collect();
    let requests = shuffled(&requests, seed);
    let started = Instant::now();
    let answers = cluster.ask(all, &requests);
    assert_eq!(answers.len(), all.len() * REPEATS);
    let home = homes(all, &answers);
    let generated: Vec<u64> = (0..NODES).map(|i| cluster.generated(i)).collect();
    let keys: Vec<u64> = (0..NODES)
        .map(|n| home.iter().filter(|&&h| h == n).count() as u64)
        .collect();
    println!(
        "herd {round} (shuffle seed {seed:#x}): {} requests in {:.1} s; keys per node {keys:?}, \
         generated per node {generated:?}",
        requests.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        keys.iter().all(|&k| k > 0),
        "herd {round}: a node got no key at all ({keys:?}): the front is not spreading keys"
    );
    assert_eq!(
        generated,
        keys,
        "herd {round} (seed {seed:#x}): each node must have made exactly the renditions it \
         answers for, once each ({} in all)\n{}",
        all.len(),
        cluster.pages(None)
    );
    assert_eq!(generated.iter().sum::<u64>(), all.len() as u64);
    home
}

#[test]
fn a_herd_through_the_front_makes_each_rendition_once_on_one_node() {
    let widths = allowed_widths(&recipe("node.conf"));
    assert_eq!(
        widths.len() * ORIGINALS.len(),
        100,
        "the recipe's widths x originals"
    );
    let started = Instant::now();
    let mut rounds = 0;
    while rounds < MIN_ROUNDS || (rounds < MAX_ROUNDS && started.elapsed() < ROUNDS_BUDGET) {
        rounds += 1;
        let round = rounds;
        let cluster = Cluster::start();
        let all = renditions(cluster.originals.path(), &widths);
        herd(&cluster, &all, round);
        let Cluster { front, nodes, .. } = cluster;
        front.stop_and_check();
        for node in nodes {
            node.stop_and_check();
        }
    }
    println!(
        "{rounds} herds on fresh clusters in {:.1} s, each rendition made once in every one",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_node_away_costs_no_request_and_its_cache_serves_again_when_back() {
    let mut cluster = Cluster::start();
    let widths = allowed_widths(&recipe("node.conf"));
    let all = renditions(cluster.originals.path(), &widths);
    let home = herd(&cluster, &all, 0);
    let every: Vec<usize> = (0..all.len()).collect();

    // The node with the most keys goes away.
    let count = |n: usize| home.iter().filter(|&&h| h == n).count();
    let away = (0..NODES).max_by_key(|&n| count(n)).expect("three nodes");
    let its_keys: Vec<usize> = every.iter().copied().filter(|&i| home[i] == away).collect();
    let before: Vec<u64> = (0..NODES).map(|i| cluster.generated(i)).collect();
    cluster.nodes[away].stop_for_now();

    // Every URL still answers; the others' keys stay where they were, as
    // hits, and the away node's keys are made once on the survivors.
    let answers = cluster.ask(&all, &shuffled(&every, seed_for(1)));
    let mut moved_to: BTreeMap<usize, usize> = BTreeMap::new();
    for (which, node, cache) in &answers {
        assert_ne!(
            *node, away,
            "{} answered by the stopped node",
            all[*which].url
        );
        if home[*which] == away {
            moved_to.insert(*which, *node);
        } else {
            assert_eq!(
                (*node, cache.as_str()),
                (home[*which], "HIT"),
                "{}: a key of a node still up moved or was not a hit",
                all[*which].url
            );
        }
    }
    for n in (0..NODES).filter(|&n| n != away) {
        let took = moved_to.values().filter(|&&m| m == n).count() as u64;
        let grew = cluster.generated(n) - before[n];
        assert_eq!(
            grew,
            took,
            "node {n} took {took} key(s) of the stopped node {away} and must have made each once\n{}",
            cluster.pages(Some(away))
        );
    }
    assert_eq!(moved_to.len(), its_keys.len());
    // Asked again, they are hits where they moved to.
    for (which, node, cache) in cluster.ask(&all, &its_keys) {
        assert_eq!(
            (node, cache.as_str()),
            (moved_to[&which], "HIT"),
            "{}: asked again while node {away} is away",
            all[which].url
        );
    }
    println!(
        "node {away} away: its {} keys made again on the others; {} requests all 200",
        its_keys.len(),
        answers.len()
    );

    // Back with its cache directory and an empty index: once the front
    // takes it back (after fail_timeout), its keys come from its disk.
    cluster.nodes[away].start_again();
    let probe = &all[its_keys[0]];
    let started = Instant::now();
    wait_until(
        &format!("the front to send {} to node {away} again", probe.url),
        COMEBACK_DEADLINE,
        || {
            let resp = Request::get(&probe.url).send(cluster.front.port());
            resp.assert_status(200);
            (cluster.node_of(&resp) == away).then_some(())
        },
    );
    println!(
        "node {away} back; the front sent its keys to it again after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for (which, node, cache) in cluster.ask(&all, &its_keys) {
        assert_eq!(
            (node, cache.as_str()),
            (away, "HIT"),
            "{}: the node that came back should serve it from its disk cache",
            all[which].url
        );
    }
    let back = cluster.stats(away);
    assert_eq!(
        back.get("generated"),
        0,
        "node {away} made renditions again after it came back\n{}",
        back.raw
    );
    assert!(
        back.get("hits") >= its_keys.len() as u64,
        "node {away} should count a hit for each of its {} keys\n{}",
        its_keys.len(),
        back.raw
    );
}

#[test]
fn the_recipe_widths_are_read_from_node_conf() {
    let conf = "location /t/ {\n  image_filter_rs_sizes 100x- 120x-   # two\n    140x-;\n}\n";
    assert_eq!(allowed_widths(conf), vec![100, 120, 140]);
}
