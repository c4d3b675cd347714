// The yardstick: Probot checks the signature, parses the payload and runs this empty
// handler; it stores nothing.
export default (app) => {
  app.on("issues", async () => {});
};
