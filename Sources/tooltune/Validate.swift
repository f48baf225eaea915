import ArgumentParser
import Foundation
import Job
import Preflight

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a job file and print it with every default filled in.",
        discussion: "Exits 1 and lists every problem (file:line:column: key.path: what is wrong) when the job is invalid.")

    @Argument(help: "The job YAML file.")
    var job: String

    func run() throws {
        do {
            let spec = try JobPreflight.load(job)
            print(try spec.resolvedYAML(), terminator: "")
            let params = spec.model.config.parameterCount.formatted()
            print("# \(job): valid; model \(spec.model.preset ?? spec.model.initialization.rawValue), \(params) parameters")
        } catch let error as JobSpecError {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
