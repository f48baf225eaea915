import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Notices a rank that is gone (its process killed, its host down or cut off) and ends the job with a
/// message naming that rank and its host.
///
/// MPI cannot say which rank was lost: a rank waiting in a collective on a dead peer hangs (TCP has no
/// timeout) or is killed by mpirun, which names at most the host of a lost daemon, and only after its own
/// keepalive (minutes) when the host vanished without closing its connections. So every rank keeps one
/// TCP connection to rank 0 beside MPI: a process that dies closes it at once, and TCP keepalive probes
/// (`keepalive`) notice a silent host. A rank leaving normally says goodbye first. Rank 0 watches every
/// other rank and each of them watches rank 0; whoever sees a peer gone prints
/// `tooltune: rank R of N (host H): lost rank P on host Q: ...` and exits at once with status 1, which
/// makes mpirun end the job.
///
/// The watch is best-effort: when a rank cannot reach rank 0 (no common network, a firewall), rank 0
/// warns once and the job runs unwatched.
final class RankWatch: @unchecked Sendable {
    /// TCP keepalive: seconds idle before probing, seconds between probes, probes missed before the peer
    /// counts as gone (10 + 5 x 4 = 30 s for a host that vanished without a word).
    struct Keepalive {
        var idle: Int32 = 10, interval: Int32 = 5, probes: Int32 = 4
        var seconds: Int { Int(idle + interval * probes) }
    }

    /// What goes over a watch connection after the handshake: one byte, then the sender closes.
    private enum Note: UInt8 {
        /// Leaving normally (end of the program), or because of an error it reports itself.
        case goodbye = 0x42
    }

    private let rank: Int
    private let size: Int
    private let hosts: [String]
    private let keepalive: Keepalive
    /// Peer rank -> socket: every other rank on rank 0, rank 0 elsewhere.
    private var peers: [Int: Int32]
    /// Written to wake the thread when the watch stops.
    private let wake: (read: Int32, write: Int32)
    private let stopped = NSCondition()
    private var stopping = false
    private var finished = false

    /// Connects every rank to rank 0 and starts watching. Collective over `comm`; nil for one rank or
    /// when the ranks could not all connect (rank 0 has said why on stderr).
    static func start(_ comm: Communicator, keepalive: Keepalive = Keepalive()) throws -> RankWatch? {
        guard comm.size > 1 else { return nil }
        let hosts = try comm.gather(comm.processorName)
        var nonce = UInt64.random(in: 1...UInt64.max)
        var listener: Int32 = -1
        var port: UInt16 = 0
        var addresses: [String] = []
        if comm.isCoordinator {
            (listener, port) = listen()
            addresses = interfaceAddresses().map(\.address)
        }
        // Rank 0's nonce, port, host and addresses, so the others can find it (and only it).
        let offer = try comm.broadcast([String(nonce), String(port), comm.processorName].joined(separator: " ")
                                       + " " + addresses.joined(separator: ","))
            .split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        nonce = UInt64(offer[0]) ?? 0
        port = UInt16(offer[1]) ?? 0
        var peers: [Int: Int32] = [:]
        var problem: String?
        if comm.isCoordinator {
            if listener < 0 { problem = "cannot listen on a TCP port: \(String(cString: strerror(errno)))" }
            else {
                peers = accept(listener, nonce: nonce, ranks: comm.size, deadline: Date().addingTimeInterval(15))
                if peers.count < comm.size - 1 {
                    let missing = (1..<comm.size).filter { peers[$0] == nil }
                    problem = "rank\(missing.count == 1 ? "" : "s") \(missing.map(String.init).joined(separator: ", ")) "
                        + "could not reach rank 0 on port \(port) of \(offer[3].isEmpty ? "no address" : offer[3])"
                }
            }
            if listener >= 0 { close(listener) }
        } else if port != 0 {
            let candidates = offer[3].split(separator: ",").map(String.init)
            if let fd = connect(to: candidates, port: port, nonce: nonce, rank: comm.rank) { peers[0] = fd }
        }
        let everyone = try comm.allreduce(Int32(comm.isCoordinator ? (problem == nil ? 1 : 0) : (peers.isEmpty ? 0 : 1)), .min)
        guard everyone == 1 else {
            peers.values.forEach { close($0) }
            if comm.isCoordinator {
                FileHandle.standardError.write(Data(("tooltune: warning: \(problem ?? "a rank could not reach rank 0"); "
                    + "a lost rank will not be named (mpirun may still end the job)\n").utf8))
            }
            return nil
        }
        for fd in peers.values { setKeepalive(fd, keepalive) }
        let names = comm.isCoordinator ? hosts : (0..<comm.size).map { $0 == 0 ? offer[2] : "" }
        return RankWatch(rank: comm.rank, size: comm.size, hosts: names, peers: peers, keepalive: keepalive)
    }

    private init(rank: Int, size: Int, hosts: [String], peers: [Int: Int32], keepalive: Keepalive) {
        self.rank = rank
        self.size = size
        self.hosts = hosts
        self.peers = peers
        self.keepalive = keepalive
        var fds: [Int32] = [0, 0]
        pipe(&fds)
        wake = (fds[0], fds[1])
        let thread = Thread { self.watch() }
        thread.name = "tooltune-rank-watch"
        thread.start()
    }

    /// Says goodbye to every peer and stops watching: this rank is leaving, normally or to report an
    /// error of its own, and none of that is a lost rank.
    func stop() {
        stopped.lock()
        if stopping {
            stopped.unlock()
            return
        }
        stopping = true
        stopped.unlock()
        for fd in peers.values {
            var note = Note.goodbye.rawValue
            _ = send(fd, &note, 1, Int32(MSG_NOSIGNAL))
        }
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
        stopped.lock()
        while !finished { stopped.wait() }
        stopped.unlock()
        peers.values.forEach { close($0) }
        close(wake.read)
        close(wake.write)
    }

    private func watch() {
        var watched = peers
        defer {
            stopped.lock()
            finished = true
            stopped.broadcast()
            stopped.unlock()
        }
        while !watched.isEmpty {
            let order = watched.keys.sorted()
            var fds = order.map { pollfd(fd: watched[$0]!, events: Int16(POLLIN), revents: 0) }
            fds.append(pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0))
            guard poll(&fds, nfds_t(fds.count), -1) >= 0 || errno == EINTR else { return }
            if fds.last!.revents != 0 { return }
            for (index, peer) in order.enumerated() where fds[index].revents != 0 {
                var note: UInt8 = 0
                let got = recv(fds[index].fd, &note, 1, Int32(MSG_DONTWAIT))
                if got < 0 && (errno == EAGAIN || errno == EINTR) { continue }
                if got == 1 && note == Note.goodbye.rawValue {
                    watched[peer] = nil
                    continue
                }
                let reason = got == 0 ? "its connection closed (the process ended without a goodbye)"
                    : got < 0 && errno == ETIMEDOUT
                        ? "its host stopped answering (\(keepalive.probes) keepalive probes, up to \(keepalive.seconds) s): it is down or cut off"
                    : got < 0 ? "its connection failed (\(String(cString: strerror(errno))))"
                    : "it sent \(note), which is not a goodbye"
                lost(peer, reason)
            }
        }
    }

    /// The job cannot go on: say which rank is gone and end this process, which makes mpirun end the job.
    private func lost(_ peer: Int, _ reason: String) {
        stopped.lock()
        let leaving = stopping
        stopped.unlock()
        if leaving { return }
        let me = hosts.indices.contains(rank) && !hosts[rank].isEmpty ? " (host \(hosts[rank]))" : ""
        let message = "tooltune: rank \(rank) of \(size)\(me): lost rank \(peer) on host \(hosts[peer]): \(reason); "
            + "ending the job (the last checkpoint is intact: start the job again to resume)\n"
        message.utf8CString.withUnsafeBufferPointer { _ = write(2, $0.baseAddress, $0.count - 1) }
        _exit(1)
    }

    // MARK: Sockets

    /// A socket listening on every address, on a port the kernel picks.
    private static func listen() -> (Int32, UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return (-1, 0) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = INADDR_ANY
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(fd, generic, length) == 0 && Glibc.listen(fd, 1024) == 0 && getsockname(fd, generic, &length) == 0
            }
        }
        guard ok else {
            close(fd)
            return (-1, 0)
        }
        return (fd, UInt16(bigEndian: address.sin_port))
    }

    /// Rank 0: takes connections until every other rank has said hello with the job's nonce, or until
    /// `deadline`. Connections from anything else are dropped.
    private static func accept(_ listener: Int32, nonce: UInt64, ranks: Int, deadline: Date) -> [Int: Int32] {
        var peers: [Int: Int32] = [:]
        while peers.count < ranks - 1 {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { break }
            var waiting = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&waiting, 1, Int32(left * 1000)) > 0 else { continue }
            let fd = Glibc.accept(listener, nil, nil)
            guard fd >= 0 else { continue }
            setTimeout(fd, seconds: 2)
            var hello = [UInt64](repeating: 0, count: 2)
            let got = recv(fd, &hello, 16, Int32(MSG_WAITALL))
            let peer = Int(UInt64(littleEndian: hello[1]))
            guard got == 16, UInt64(littleEndian: hello[0]) == nonce, peer > 0, peer < ranks, peers[peer] == nil else {
                close(fd)
                continue
            }
            var ack = UInt8(1)
            guard send(fd, &ack, 1, Int32(MSG_NOSIGNAL)) == 1 else {
                close(fd)
                continue
            }
            setTimeout(fd, seconds: 0)
            peers[peer] = fd
        }
        return peers
    }

    /// A rank other than 0: tries rank 0's addresses, those on a network of this host's first, until one
    /// answers the hello with the job's nonce.
    private static func connect(to addresses: [String], port: UInt16, nonce: UInt64, rank: Int) -> Int32? {
        let mine = interfaceAddresses().filter { !$0.loopback }
        func near(_ text: String) -> Bool {
            guard let a = ipv4(text) else { return false }
            return mine.contains { ($0.value & $0.mask) == (a & $0.mask) }
        }
        let ordered = addresses.filter(near) + addresses.filter { !near($0) }
        for text in ordered {
            guard let value = ipv4(text) else { continue }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return nil }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = value.bigEndian
            // A bounded connect: non-blocking, then wait for it to complete.
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            let started = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            var connected = started == 0
            if !connected && errno == EINPROGRESS {
                var waiting = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                var error: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                connected = poll(&waiting, 1, 3000) == 1
                    && getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0
            }
            _ = fcntl(fd, F_SETFL, flags)
            if connected {
                setTimeout(fd, seconds: 3)
                var hello = [UInt64(nonce).littleEndian, UInt64(rank).littleEndian]
                var ack: UInt8 = 0
                if send(fd, &hello, 16, Int32(MSG_NOSIGNAL)) == 16, recv(fd, &ack, 1, Int32(MSG_WAITALL)) == 1, ack == 1 {
                    setTimeout(fd, seconds: 0)
                    return fd
                }
            }
            close(fd)
        }
        return nil
    }

    private static func setTimeout(_ fd: Int32, seconds: Int) {
        var time = timeval(tv_sec: seconds, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
    }

    private static func setKeepalive(_ fd: Int32, _ keepalive: Keepalive) {
        var on: Int32 = 1
        var idle = keepalive.idle, interval = keepalive.interval, probes = keepalive.probes
        let size = socklen_t(MemoryLayout<Int32>.size)
        _ = setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, size)
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &idle, size)
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, &interval, size)
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, &probes, size)
    }

    /// This host's IPv4 addresses on interfaces that are up, loopback last.
    private static func interfaceAddresses() -> [(address: String, value: UInt32, mask: UInt32, loopback: Bool)] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var found: [(address: String, value: UInt32, mask: UInt32, loopback: Bool)] = []
        var cursor = list
        while let entry = cursor?.pointee {
            defer { cursor = entry.ifa_next }
            guard let address = entry.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                  entry.ifa_flags & UInt32(IFF_UP) != 0 else { continue }
            let value = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            let mask = entry.ifa_netmask.map {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            } ?? UInt32.max
            let text = "\(value >> 24).\((value >> 16) & 255).\((value >> 8) & 255).\(value & 255)"
            found.append((text, value, mask, entry.ifa_flags & UInt32(IFF_LOOPBACK) != 0))
        }
        return found.filter { !$0.loopback } + found.filter(\.loopback)
    }

    private static func ipv4(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".").compactMap { UInt32($0) }
        guard parts.count == 4, parts.allSatisfy({ $0 < 256 }) else { return nil }
        return parts.reduce(0) { $0 << 8 | $1 }
    }
}
