import Foundation
import JSON

/// One parameter of an API in a query's api_list.
public struct APIParameter: Sendable, Equatable {
    public var name: String
    /// As written: usually "STRING", "NUMBER", "BOOLEAN", ...
    public var type: JSONValue
    public var description: String
    public var defaultValue: JSONValue

    public init(name: String, type: JSONValue, description: String, defaultValue: JSONValue) {
        self.name = name
        self.type = type
        self.description = description
        self.defaultValue = defaultValue
    }
}

/// One entry of a query's `api_list` (ToolBench's instruction format; StableToolBench adds
/// `template_response`, the shape of the API's response).
public struct QueryAPI: Sendable, Equatable {
    public var categoryName: String
    public var toolName: String
    public var apiName: String
    public var apiDescription: String
    public var requiredParameters: [APIParameter]
    public var optionalParameters: [APIParameter]
    public var templateResponse: JSONValue?

    public init(categoryName: String, toolName: String, apiName: String, apiDescription: String,
                requiredParameters: [APIParameter], optionalParameters: [APIParameter], templateResponse: JSONValue?) {
        self.categoryName = categoryName
        self.toolName = toolName
        self.apiName = apiName
        self.apiDescription = apiDescription
        self.requiredParameters = requiredParameters
        self.optionalParameters = optionalParameters
        self.templateResponse = templateResponse
    }
}

/// A `[tool_name, api_name]` pair of a query's `relevant APIs`, with the names as written.
public struct APIReference: Sendable, Equatable, Hashable {
    public var toolName: String
    public var apiName: String
}

/// One test (or instruction) query: `{"api_list": [...], "query": ..., "relevant APIs": [[tool, api]], "query_id": ...}`.
public struct ToolBenchQuery: Sendable {
    public var queryID: String
    public var query: String
    public var apis: [QueryAPI]
    public var relevantAPIs: [APIReference]
    public var source: ExampleSource

    public init(queryID: String, query: String, apis: [QueryAPI], relevantAPIs: [APIReference], source: ExampleSource) {
        self.queryID = queryID
        self.query = query
        self.apis = apis
        self.relevantAPIs = relevantAPIs
        self.source = source
    }
}

/// ToolBench query files (`data/instruction/G1_query.json`, StableToolBench's
/// `solvable_queries/test_instruction/G1_instruction.json`): a JSON list of queries. Missing
/// descriptions and parameter lists read as empty; everything else that is missing or of the wrong
/// type is an error naming the file and the JSON path.
public enum QueryFiles {
    public static func read(file: String) throws(DataError) -> [ToolBenchQuery] {
        try convert(JSONField(try JSONParser.parse(contentsOf: file), file: file))
    }

    public static func convert(_ root: JSONField) throws(DataError) -> [ToolBenchQuery] {
        guard case .array = root.value else {
            throw root.error("expected a list of queries ({\"api_list\", \"query\", \"query_id\", ...}), found \(root.value.kindDescription)")
        }
        var queries: [ToolBenchQuery] = []
        for (index, item) in try root.items().enumerated() {
            let idField = try item.field("query_id")
            let id: String
            switch idField.value {
            case .integer(let text): id = text
            case .string(let text): id = text
            default: throw idField.error("expected a query id (a number or a string), found \(idField.value.kindDescription)")
            }
            var relevant: [APIReference] = []
            if let field = try item.optionalField("relevant APIs") {
                for pair in try field.items() {
                    let names = try pair.items()
                    guard names.count == 2 else { throw pair.error("expected [tool_name, api_name], found \(names.count) items") }
                    relevant.append(APIReference(toolName: try names[0].string(), apiName: try names[1].string()))
                }
            }
            queries.append(ToolBenchQuery(queryID: id, query: try item.field("query").string(),
                                          apis: try item.field("api_list").items().map(api), relevantAPIs: relevant,
                                          source: ExampleSource(file: root.file, locator: "$[\(index)]")))
        }
        return queries
    }

    static func api(_ field: JSONField) throws(DataError) -> QueryAPI {
        func parameters(_ key: String) throws(DataError) -> [APIParameter] {
            guard let list = try field.optionalField(key) else { return [] }
            return try list.items().map { (p: JSONField) throws(DataError) -> APIParameter in
                APIParameter(name: try p.field("name").string(), type: try p.optionalField("type")?.value ?? .null,
                             description: try p.optionalField("description")?.optionalString() ?? "",
                             defaultValue: try p.optionalField("default")?.value ?? .string(""))
            }
        }
        let template = try field.optionalField("template_response")?.value
        return QueryAPI(categoryName: try field.field("category_name").string(), toolName: try field.field("tool_name").string(),
                        apiName: try field.field("api_name").string(),
                        apiDescription: try field.optionalField("api_description")?.optionalString() ?? "",
                        requiredParameters: try parameters("required_parameters"),
                        optionalParameters: try parameters("optional_parameters"),
                        templateResponse: template == .null ? nil : template)
    }
}

/// Tool descriptions from a ToolBench `toolenv/tools/<Category>/<tool>.json` folder, looked up as
/// ToolBench's `get_white_list` does: by the standardized original tool name, giving the tool's
/// standard name (the file name) and its `tool_description`.
public struct ToolDescriptions: Sendable {
    public struct Tool: Sendable, Equatable {
        public var standardName: String
        public var description: String
    }

    var tools: [String: Tool] = [:]

    /// No descriptions: tools are named by their standardized name and described as "None".
    public init() {}

    /// Reads every `<Category>/<tool>.json` below `folder`.
    public init(folder: String) throws {
        var errors: [DataError] = []
        for file in try DataSource.files(at: folder).files where file.hasSuffix(".json") {
            do throws(DataError) {
                let root = JSONField(try JSONParser.parse(contentsOf: file), file: file)
                let name = try root.field("tool_name").string()
                let description = try root.optionalField("tool_description")?.optionalString() ?? ""
                let standard = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
                tools[RapidAPI.standardize(name)] = Tool(standardName: standard, description: description)
            } catch {
                errors.append(error)
            }
        }
        if !errors.isEmpty { throw DataErrors(errors: errors) }
    }

    /// The tool of a query's `tool_name`, or nil when the folder does not have it.
    public func tool(named toolName: String) -> Tool? { tools[RapidAPI.standardize(toolName)] }

    public var count: Int { tools.count }
}
