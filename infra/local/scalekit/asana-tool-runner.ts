import { fetchAsanaTool, ToolInputError } from '../asana/tool-routes';
import { invalidArgument } from './errors';
import type { CatalogTool } from './tool-catalog';
import type { ProviderResponse, ToolRunner } from './tool-service';

/** Runs catalog tools as REST calls to the local Asana, with the connected account's own access token. */
export class AsanaToolRunner implements ToolRunner {
  constructor(private readonly asanaUrl: string) {}

  async run(tool: CatalogTool, input: Readonly<Record<string, unknown>>, accessToken: string): Promise<ProviderResponse> {
    try {
      return await fetchAsanaTool(this.asanaUrl, accessToken, tool.name, input);
    } catch (error) {
      // E.g. an empty path parameter: the input cannot become a request at all.
      if (error instanceof ToolInputError) throw invalidArgument(error.message);
      throw error;
    }
  }
}
