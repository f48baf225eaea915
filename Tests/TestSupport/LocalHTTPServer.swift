import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A small HTTP/1.1 server on 127.0.0.1 (a port the system picks) for tests: each request is answered by
/// a scripted handler, then the connection is closed. It stands in for a tool server or an
/// OpenAI-compatible judge, for tests in this process and for `tooltune` run as a subprocess.
public final class LocalHTTPServer: @unchecked Sendable {
    public struct Request: Sendable {
        public var method: String
        public var path: String
        /// Header names in lower case.
        public var headers: [String: String]
        public var body: Data
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    public struct Response: Sendable {
        public var status: Int
        public var body: Data
        /// Seconds to wait before answering (to outlast a client's timeout).
        public var delay: Double

        public init(status: Int = 200, body: String, delay: Double = 0) {
            self.status = status
            self.body = Data(body.utf8)
            self.delay = delay
        }
    }

    public let port: UInt16
    public var url: String { "http://127.0.0.1:\(port)" }
    private let listener: Int32
    private let state: State
    private var stopped = false

    /// The requests so far, in arrival order.
    public var requests: [Request] { state.lock.withLock { state.received } }

    /// `handler` gets each request and its 0-based arrival number.
    public init(_ handler: @escaping @Sendable (Request, Int) -> Response) throws {
        state = State(handler)
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        // The threads hold the state, not the server, so the server can go away (and stop) on its own.
        let state = state
        Thread {
            while true {
                let connection = accept(fd, nil, nil)
                guard connection >= 0 else { return }
                Thread { state.serve(connection) }.start()
            }
        }.start()
    }

    deinit { stop() }

    /// Stops accepting connections (once).
    public func stop() {
        guard !state.lock.withLock({ defer { stopped = true }; return stopped }) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }
}

/// What the server's threads share: the handler and the requests received.
private final class State: @unchecked Sendable {
    let handler: @Sendable (LocalHTTPServer.Request, Int) -> LocalHTTPServer.Response
    let lock = NSLock()
    var received: [LocalHTTPServer.Request] = []

    init(_ handler: @escaping @Sendable (LocalHTTPServer.Request, Int) -> LocalHTTPServer.Response) { self.handler = handler }

    func serve(_ connection: Int32) {
        defer { close(connection) }
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        func readMore() -> Bool {
            let n = recv(connection, &chunk, chunk.count, 0)
            guard n > 0 else { return false }
            buffer += chunk[0..<n]
            return true
        }
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        var headerEnd: Int?
        while headerEnd == nil {
            guard readMore() else { return }
            if buffer.count >= 4 {
                headerEnd = (0...(buffer.count - 4)).first { buffer[$0..<($0 + 4)].elementsEqual(separator) }
            }
        }
        let head = String(decoding: buffer[..<headerEnd!], as: UTF8.self).components(separatedBy: "\r\n")
        let requestLine = head[0].split(separator: " ")
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let bodyStart = headerEnd! + 4
        let length = Int(headers["content-length"] ?? "0") ?? 0
        while buffer.count < bodyStart + length {
            guard readMore() else { return }
        }
        let request = LocalHTTPServer.Request(method: requestLine.count > 0 ? String(requestLine[0]) : "",
                                              path: requestLine.count > 1 ? String(requestLine[1]) : "",
                                              headers: headers, body: Data(buffer[bodyStart..<(bodyStart + length)]))
        let number = lock.withLock {
            received.append(request)
            return received.count - 1
        }
        let response = handler(request, number)
        if response.delay > 0 { Thread.sleep(forTimeInterval: response.delay) }
        var out = Array("HTTP/1.1 \(response.status) \(response.status == 200 ? "OK" : "Error")\r\nContent-Type: application/json\r\nContent-Length: \(response.body.count)\r\nConnection: close\r\n\r\n".utf8)
        out += response.body
        var sent = 0
        while sent < out.count {
            #if canImport(Glibc)
            let n = out[sent...].withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            #else
            let n = out[sent...].withUnsafeBytes { send(connection, $0.baseAddress, $0.count, 0) }
            #endif
            guard n > 0 else { return }
            sent += n
        }
    }
}
