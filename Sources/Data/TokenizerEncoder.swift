import Tokenizer
import ToolBench

// The project's BPE tokenizer is what data preparation tokenizes with.
extension Tokenizer: TokenEncoder {}
extension Encoding: TokenEncoding {}
