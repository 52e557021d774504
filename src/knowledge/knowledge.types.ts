/** One article of a knowledge source, parsed to Markdown whatever it came as. */
export interface ParsedArticle {
  /** Stable identity within the agent's knowledge: the file path relative to the agents file's folder, or the page URL. */
  uri: string;
  title: string;
  /** Where a person can read it (front matter `url`, or the page URL); null for a file without one. */
  url: string | null;
  /** The article's content as Markdown: headings (`#`…`######`) mark its sections. */
  markdown: string;
}

/** A piece of an article small enough for the prompt, cut along its headings. */
export interface ArticleChunk {
  /** 0, 1, 2… in the article's order. */
  ordinal: number;
  /** The headings above the chunk, outermost first (the article title not included). */
  headingPath: string[];
  /** The chunk's text, prefixed by nothing: the heading path is stored and shown apart. */
  text: string;
}

/** A source that failed, reported while the others are kept. */
export interface SourceError {
  source: string;
  error: string;
}
